"""Where the CLI looks: a deployed stack (its CloudFormation outputs) or a running local twin (the file that
`make up` writes)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3

from dogbreeds_cli.snapshot import Clients
from model_code import registry

# what the twin's moto accepts; never real credentials
TWIN_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class TargetError(RuntimeError):
    """The stack or twin cannot be reached or lacks something the CLI needs (said in words)."""


@dataclass(frozen=True)
class Target:
    clients: Clients
    state_machine_arn: str
    api_url: str  # the POST route
    api_key: Callable[[], str]  # read only when a command posts
    endpoint_name: str = ""  # the SageMaker endpoint behind the API
    bucket: str = ""  # the data bucket, where the prediction log is
    predictions_prefix: str = "predictions/"
    model_package_group: str = ""  # the model registry's group (empty: a stack or twin from before the registry)
    approval_mode: str = registry.AUTO  # template.yaml's ApprovalMode: auto, or manual (a person approves each version)

    def execution_arn(self, execution: str | None) -> str:
        """An execution's ARN from its ARN or name; the newest run's when None."""
        if execution and execution.startswith("arn:"):
            return execution
        if execution:
            prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
            return f"{prefix}:{execution}"
        runs = self.clients("stepfunctions").list_executions(stateMachineArn=self.state_machine_arn, maxResults=1)
        if not runs["executions"]:
            raise TargetError(f"no run yet on {self.state_machine_arn}: upload a dataset zip first")
        return runs["executions"][0]["executionArn"]


def from_stack(stack: str, region: str | None = None) -> Target:
    session = boto3.session.Session(region_name=region)
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as error:
        raise TargetError(f"cannot read stack {stack}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    parameters = {item["ParameterKey"]: item.get("ParameterValue") for item in described.get("Parameters", [])}
    missing = {"StateMachineArn", "ApiUrl", "ApiKeyId"} - set(outputs)
    if missing:
        raise TargetError(f"stack {stack} has no output {', '.join(sorted(missing))}: is it this project's stack?")

    def api_key() -> str:
        return session.client("apigateway").get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)["value"]

    return Target(
        session.client, outputs["StateMachineArn"], outputs["ApiUrl"], api_key,
        endpoint_name=outputs.get("EndpointName", ""), bucket=outputs.get("BucketName", ""),
        predictions_prefix=outputs.get("PredictionsPrefix", "predictions/"),
        model_package_group=outputs.get("ModelPackageGroupName", ""),
        approval_mode=parameters.get("ApprovalMode") or registry.AUTO,
    )  # fmt: skip


def from_connection(connection: dict) -> Target:
    """A twin as Twin.connection() describes it."""
    endpoints, region = connection["endpoints"], connection["region"]

    def clients(service: str):
        return boto3.client(service, endpoint_url=endpoints[service], region_name=region, **TWIN_CREDENTIALS)

    return Target(
        clients, connection["state_machine_arn"], connection["api_url"], lambda: connection["api_key"],
        # (an up.json written before `monitor` or the registry lacks these: only the commands that use them ask)
        endpoint_name=connection.get("endpoint_name", ""), bucket=connection.get("bucket", ""),
        predictions_prefix=connection.get("predictions_prefix", "predictions/"),
        model_package_group=connection.get("model_package_group", ""),
        approval_mode=connection.get("parameters", {}).get("ApprovalMode", registry.AUTO),
    )  # fmt: skip


def from_twin_file(path: Path) -> Target:
    if not path.is_file():
        raise TargetError(f"{path} does not exist: start the twin with `make up` (or name a stack with --stack)")
    return from_connection(json.loads(path.read_text()))
