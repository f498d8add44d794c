"""The moto hooks the twin depends on, on a two-function stand-in stack (tests/twin/routing_stack/).

moto has no public way to run a Lambda's real code without docker, nor to deliver EventBridge events to a
Lambda target: local_twin/moto_seam.py patches private methods. These tests fail loudly when an upgrade
(or a change in that module) stops either route from firing.
"""

import json
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from local_twin.moto_stack import MotoStack
from local_twin.template import Template

pytestmark = pytest.mark.enable_socket  # a moto server and the Runtime API on loopback

STACK_DIR = Path(__file__).parent / "routing_stack"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "dev.txt"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    template = Template.load(STACK_DIR)
    moto = MotoStack(template, workdir=tmp_path_factory.mktemp("routing"))
    moto.start()
    try:
        yield moto, moto.provision(sagemaker_url="http://127.0.0.1:9")  # the stand-ins never call SageMaker
    finally:
        moto.stop()


def test_moto_is_the_pinned_minor_version():
    pin = next(line for line in REQUIREMENTS.read_text().splitlines() if line.startswith("moto"))
    specifier = SpecifierSet(pin.split("]", 1)[1])
    assert version("moto") in specifier, f"moto {version('moto')} is outside {specifier}: re-check the hooks"
    assert specifier.contains("5.2.99") and not specifier.contains("5.3.0"), "keep moto pinned to one minor"


def test_invoking_a_function_runs_its_real_handler_with_the_template_environment(stack):
    """Through moto's Invoke API: the route the state machine's tasks take (as the state machine's role)."""
    moto, aws = stack
    response = moto.client("lambda").invoke(
        FunctionName=aws.functions["RecordFunction"].name,
        Payload=json.dumps({"bucket": aws.bucket, "key": "direct.zip"}).encode(),
    )
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    assert payload == {"handled_by": "routing_probe.record", "marker": "from-local-profile", "key": "direct.zip"}
    marker = moto.client("s3").get_object(Bucket=aws.bucket, Key="markers/direct.zip")["Body"].read()
    assert marker == b"routed"


def test_a_reconfigured_function_runs_with_the_variables_lambda_answered_and_logs_to_its_group(stack):
    """The runtime takes a function's variables from Lambda's API (UpdateFunctionConfiguration's answer), not
    from moto's objects; moto's Invoke, replaced, creates the function's log group as Lambda does."""
    moto, aws = stack
    function, lambda_client = aws.functions["RecordFunction"], moto.client("lambda")
    variables = lambda_client.get_function_configuration(FunctionName=function.name)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=function.name, Environment={"Variables": variables | {"MARKER": "reconfigured"}}
    )
    try:
        assert moto.function_variables(function.name) == variables | {"MARKER": "reconfigured"}
        response = lambda_client.invoke(
            FunctionName=function.name, Payload=json.dumps({"bucket": aws.bucket, "key": "again.zip"}).encode()
        )
        assert json.loads(response["Payload"].read())["marker"] == "reconfigured"
    finally:
        lambda_client.update_function_configuration(FunctionName=function.name, Environment={"Variables": variables})
    assert moto.function_variables(function.name) == variables
    groups = moto.client("logs").describe_log_groups(logGroupNamePrefix=function.log_group)["logGroups"]
    assert [group["logGroupName"] for group in groups] == [function.log_group]


def wait_for_execution(moto, state_machine_arn: str, timeout: float = 30) -> dict:
    stepfunctions = moto.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = stepfunctions.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if executions and executions[0]["status"] != "RUNNING":
            return stepfunctions.describe_execution(executionArn=executions[0]["executionArn"])
        time.sleep(0.2)
    raise AssertionError(
        "the upload started no finished execution: S3 → EventBridge → Lambda → Step Functions is broken"
    )


def test_an_upload_reaches_the_state_machine_and_its_task_runs_the_real_handler(stack):
    moto, aws = stack
    (inbox,) = aws.topic_queues.values()
    moto.drain(inbox)
    moto.client("s3").put_object(Bucket=aws.bucket, Key="datasets/probe.zip", Body=b"zip bytes")
    execution = wait_for_execution(moto, aws.state_machine_arn)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {
        "handled_by": "routing_probe.record",
        "marker": "from-local-profile",
        "key": "datasets/probe.zip",
    }
    assert moto.drain(inbox) == ["recorded datasets/probe.zip"]
