"""The whole system on one machine: moto (S3, Lambda, Step Functions, EventBridge, SNS, IAM) provisioned from
template.yaml, the local SageMaker that really trains and serves, and the local API front.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

from dogbreeds_cli.timeline import StateProgress, follow_execution, history
from local_twin.alarms import MetricClock
from local_twin.api import LocalApi, MetricsPublisher
from local_twin.faults import Faults
from local_twin.moto_stack import MotoStack, Provisioned, client, event_emitter
from local_twin.sagemaker import LocalSageMaker
from local_twin.sagemaker.quotas import AccountQuotas
from local_twin.template import Template

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO_ROOT / ".twin"


class TwinError(RuntimeError):
    """A step of the twin did not happen (named, with what was seen instead)."""


class Twin:
    """Start with ``start()`` (or ``with Twin(...) as twin``); everything it started stops in ``stop()``."""

    def __init__(
        self,
        root: Path = REPO_ROOT,
        workdir: Path = DEFAULT_WORKDIR,
        profile: str = "local",
        faults=None,
        parameters: dict[str, str] | None = None,
        account: str = "default",
    ):
        """``account`` is the modelled account's SageMaker quotas: ``default`` (enough for every run here) or
        ``new-account`` (local_twin/sagemaker/quotas.py)."""
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.template = Template.load(self.root, profile=profile, overrides=parameters)
        self.template.check_rules()  # what `sam deploy` refuses before it creates anything, the twin refuses too
        self.region = self.template.region
        self.faults = faults or Faults()  # tests inject failures through it while the twin runs
        self.quotas = AccountQuotas.preset(account, self.template.instance_types())
        # the time of API Gateway's metrics and of the alarms' evaluation: a test moves it instead of waiting
        self.clock = MetricClock()
        self.moto = MotoStack(self.template, self.faults, self.workdir / "aws", self.clock)
        self.sagemaker: LocalSageMaker | None = None
        self.api: LocalApi | None = None
        self.aws: Provisioned | None = None

    def start(self) -> "Twin":
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.moto.start()
            self.sagemaker = LocalSageMaker(
                self.workdir / "sagemaker",
                self.moto.gateway_url,  # jobs and endpoints reach S3 with their execution role's permissions
                region=self.region,
                faults=self.faults,
                assume=self.moto.assume,
                denials=self.moto.denials,
                quotas=self.quotas,
                directory=self.moto.directory,
                # SageMaker's events (the model registry's state changes) reach the stack's rules as on AWS
                emit_event=event_emitter(self.moto.client("events")),
            )
            sagemaker_url = self.sagemaker.start()
            self.aws = self.moto.provision(sagemaker_url)
            self.api = LocalApi(self.template.api(), self.invoke_for_api, clock=self.clock.now)
            recorder = self.moto.metrics  # moto's CloudWatch, the values kept for the alarms
            self.api.metrics = MetricsPublisher(
                lambda data: recorder.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)
            )
            self.api.start()
        except BaseException:
            self.stop()  # nothing started is left running when a later part fails
            raise
        return self

    def stop(self) -> None:
        for part in (self.api, self.sagemaker):
            if part is not None:
                part.stop()
        self.moto.stop()

    def __enter__(self) -> "Twin":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- what users and tests do with it ---------------------------------------------------------------------

    @property
    def upload_prefix(self) -> str:
        prefixes = {rule.upload_prefix for rule in self.template.upload_rules()}
        if len(prefixes) != 1:
            raise TwinError(f"expected one upload prefix across the template's S3 rules, found {sorted(prefixes)}")
        return prefixes.pop()

    @property
    def model_package_group(self) -> str:
        """The name of the stack's model package group (the registry's versions are registered in it)."""
        groups = [properties["ModelPackageGroupName"] for properties in self.template.model_package_groups().values()]
        if len(groups) != 1:
            raise TwinError(f"expected one model package group in the template, found {groups}")
        return groups[0]

    def client(self, service: str):
        if service in ("sagemaker", "sagemaker-runtime", "service-quotas"):
            return client(service, self.sagemaker.url, self.region)
        return self.moto.client(service)

    def invoke_for_api(self, logical_id: str, event: dict) -> tuple[bytes, bool]:
        """A synchronous invocation of a template function in its own execution environment, as API Gateway makes
        it: (payload, errored); Lambda's refusals (throttled, too large) raise."""
        return self.moto.runtime.invoke(self.aws.functions[logical_id].name, json.dumps(event).encode())

    def invoke_function(self, logical_id: str, event: dict) -> dict:
        """Invoke a template function and return its answer; a failure is a TwinError naming it."""
        payload, errored = self.invoke_for_api(logical_id, event)
        if errored:
            raise TwinError(f"{logical_id} failed: {payload.decode(errors='replace')}")
        return json.loads(payload)

    def upload_dataset(self, zip_path: Path, name: str | None = None) -> str:
        key = f"{self.upload_prefix}{name or Path(zip_path).name}"
        self.client("s3").upload_file(str(zip_path), self.aws.bucket, key)
        return key

    def executions(self) -> list[dict]:
        paginator = self.client("stepfunctions").get_paginator("list_executions")
        return [
            execution
            for page in paginator.paginate(stateMachineArn=self.aws.state_machine_arn)
            for execution in page["executions"]
        ]

    def wait_for_new_execution(self, known: set[str], timeout: float = 60) -> str:
        """The ARN of the execution an upload started (one not in ``known``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [e["executionArn"] for e in self.executions() if e["executionArn"] not in known]
            if fresh:
                return fresh[0]
            time.sleep(0.5)
        raise TwinError(
            f"no execution started within {timeout:.0f} s: the upload → rule → StartPipeline route did not fire"
        )

    def history(self, execution_arn: str) -> list[dict]:
        return history(self.client("stepfunctions"), execution_arn)

    def follow(
        self,
        execution_arn: str,
        on_progress: Callable[[StateProgress], None] = lambda progress: None,
        timeout: float = 600,
        poll_seconds: float = 1.0,
    ) -> dict:
        """Wait for the execution to end, reporting each state once, in the order first entered, when it can no
        longer change (a poll loop once the run has left it); returns describe_execution's answer."""
        try:
            return follow_execution(self.client("stepfunctions"), execution_arn, on_progress, timeout, poll_seconds)
        except TimeoutError as error:
            raise TwinError(str(error)) from error

    def connection(self) -> dict:
        """How a client outside this process reaches the running twin (`make up` writes it for `dogbreeds`)."""
        route = next(route for route in self.template.api().routes if route.method == "POST")
        predict = self.template.functions()[route.function]
        return {
            "region": self.region,
            "endpoints": {
                "stepfunctions": self.moto.url,
                "s3": self.moto.url,
                "sagemaker": self.sagemaker.url,
                "sagemaker-runtime": self.sagemaker.url,
                "service-quotas": self.sagemaker.url,  # the account's SageMaker quotas live with the local SageMaker
            },
            "parameters": self.template.parameters,  # what `dogbreeds doctor --twin` checks the quotas for
            "state_machine_arn": self.aws.state_machine_arn,
            "bucket": self.aws.bucket,
            "endpoint_name": predict.environment["ENDPOINT_NAME"],
            "model_package_group": self.model_package_group,
            "predictions_prefix": predict.environment["PREDICTIONS_PREFIX"],
            "api_url": f"{self.api.url}{route.path}",
            "api_key": self.api.api_key,
        }

    def notifications(self, topic: str = "FailureTopic") -> list[str]:
        """Messages published to one of the template's topics (its logical id: the pipeline's failures by default,
        ``AlarmTopic`` for the alarms' notifications) since the last call."""
        return self.moto.drain(self.aws.topic_queues[self.template.topics()[topic]])

    def evaluate_alarms(self) -> dict[str, str]:
        """Evaluate the stack's alarms now (``clock``'s now) on every metric put so far, API Gateway's included;
        returns each alarm's state. The twin also evaluates them after each batch of metrics, on its own thread."""
        self.api.metrics.flush()
        return self.moto.alarms.evaluate()
