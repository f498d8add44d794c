"""The AWS side of the twin: a moto server on 127.0.0.1 provisioned from template.yaml, IAM enforced in front of it.

S3 (the data bucket, EventBridge notifications on), IAM (every role of the template with its policies as
written), Lambda (every function, run by lambda_runtime in processes of its own with its role's credentials;
``moto_seam`` routes the state machine's tasks and EventBridge targets there), Step Functions (the ASL with
its substitutions resolved, executed by moto's engine, as the state machine's role), the EventBridge rules (which
also carry the local SageMaker's events: ``event_emitter``), the model package groups (on the local SageMaker),
SNS topics (each with an SQS subscription the twin can read), CloudWatch (the alarms and dashboards; the
metrics the functions print in the embedded metric format, read from their logs after each invocation: emf.py; the
alarms evaluated as CloudWatch would, which moto does not: alarms.py).
The functions and the jobs reach moto through the IAM gateway (iam_gateway.py), which authorizes each call; the
twin itself calls moto as administrator.
Everything here goes through moto's server (its AWS endpoints, ``/moto-api/``) and its documented settings.
"""

import io
import json
import logging
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import requests
from botocore.client import BaseClient
from botocore.config import Config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from local_twin import alarms, emf, iam, moto_seam
from local_twin.faults import Faults
from local_twin.iam_gateway import IamGateway
from local_twin.lambda_runtime import FunctionConfig, LambdaRuntime
from local_twin.template import FunctionSpec, Template

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": iam.ADMIN_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": "testing"}
# moto's setting (moto/settings.py) that gives its IAM AWS's managed policies, read when it makes an account's IAM:
# SAM attaches some by ARN (AWSLambdaBasicExecutionRole, ...). iam:CreatePolicy cannot make them (it names the
# caller's account, not ``aws``), and moto's /moto-api/config takes no IAM settings.
LOAD_MANAGED_POLICIES = "MOTO_IAM_LOAD_MANAGED_POLICIES"
_ANSWERS_CONFIGURATION = ("CreateFunction", "GetFunctionConfiguration", "UpdateFunctionConfiguration")


@dataclass
class Provisioned:
    """What the twin created, by the names a user or a test needs."""

    moto_url: str
    bucket: str
    state_machine_arn: str
    functions: dict[str, FunctionSpec]
    topic_queues: dict[str, str] = field(default_factory=dict)  # topic ARN -> SQS queue URL subscribed to it


_clients: dict[tuple[str, str, str], BaseClient] = {}
_clients_lock = threading.Lock()


def client(service: str, endpoint_url: str, region: str) -> BaseClient:
    """One client per service and endpoint, shared by every thread: a boto3 client is thread-safe once made,
    while making one costs ~20 ms and races in boto3's default session when threads do it at once."""
    key = (service, endpoint_url, region)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = boto3.client(
                service,
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(max_pool_connections=64),  # the API front's threads share the Lambda client
            )
        return _clients[key]


def lambda_environment(function: FunctionSpec, aws_url: str, sagemaker_url: str, region: str) -> dict[str, str]:
    """The template's variables plus what points the unchanged handler at the twin instead of AWS (the
    credentials come from the function's role, lambda_runtime adds them)."""
    return {**function.environment, **twin_endpoints(aws_url, sagemaker_url, region)}


def twin_endpoints(aws_url: str, sagemaker_url: str, region: str) -> dict[str, str]:
    """What the twin adds to every function's environment so that the unchanged handler reaches the twin."""
    return {
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_ENDPOINT_URL_SAGEMAKER": sagemaker_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker_url,
        "AWS_ENDPOINT_URL_SERVICE_QUOTAS": sagemaker_url,  # the local SageMaker answers for the account's quotas
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on the twin
    }


def session_environment(credentials: dict) -> dict[str, str]:
    """STS credentials as the variables Lambda and SageMaker hand a role's session."""
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def event_emitter(events: BaseClient) -> Callable[[dict], None]:
    """How an AWS service sends its events: PutEvents of one entry on the default bus, by the service itself (the
    administrator's client: no caller's permissions are asked). The rules then deliver it (moto_seam)."""

    def emit(entry: dict) -> None:
        answer = events.put_events(Entries=[entry])
        if answer["FailedEntryCount"]:
            raise RuntimeError(f"EventBridge refused the event {entry['DetailType']}: {answer['Entries']}")

    return emit


def code_zip(code_dir: Path) -> bytes:
    """The CodeUri folder zipped as ``sam build`` would ship it (moto keeps it as the function's code)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(code_dir).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(code_dir))
    return buffer.getvalue()


# AWS::CloudWatch::Alarm's numbers arrive as the template's strings (a Ref to a Number parameter)
ALARM_NUMBERS = {"Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float}


def alarm_request(name: str, properties: dict) -> dict:
    """PutMetricAlarm's parameters for an alarm resource: its properties carry the API's names."""
    request = {key: ALARM_NUMBERS.get(key, lambda value: value)(value) for key, value in properties.items()}
    for query in request.get("Metrics", []):
        if "MetricStat" in query:
            query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
    return request | {"AlarmName": name}


def expect_same_arn(created: str, resolved: str) -> None:
    """The template's intrinsics were resolved to ``resolved``: moto must have made exactly that resource."""
    if created != resolved:
        raise RuntimeError(f"moto created {created}, but the template's references resolve to {resolved}")


class MotoStack:
    def __init__(
        self,
        template: Template,
        faults: Faults | None = None,
        workdir: Path | None = None,
        clock: alarms.MetricClock | None = None,
    ):
        self.template = template
        self.faults = faults or Faults()
        self.region = template.region
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="twin-aws-"))
        self._server: ThreadedMotoServer | None = None
        self._previous_environment: dict[str, str | None] = {}
        self.directory: iam.Directory | None = None  # the roles and sessions of this stack's IAM
        self.gateway: IamGateway | None = None
        self.runtime = LambdaRuntime(self.workdir / "logs" / "lambda", self.faults)
        self.denials = iam.DenialLog()  # every call IAM refused: the gateway's, the state machine's, SageMaker's
        self._routed: list[str] = []
        self._variables: dict[str, dict[str, str]] = {}  # function name -> its variables as Lambda last answered
        self.clock = clock or alarms.MetricClock()  # the metrics' and the alarms' time
        self.metrics: alarms.MetricRecorder | None = None  # the twin's PutMetricData (started with the stack)
        self.alarms: alarms.AlarmEvaluator | None = None  # made with the stack's alarms
        self.url = ""

    @property
    def gateway_url(self) -> str:
        """Where the functions and jobs reach AWS: every call authorized against the caller's role."""
        return self.gateway.url

    def start(self) -> str:
        moto_seam.install()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        # moto's Step Functions engine calls back into the server at localhost:$MOTO_PORT
        self._set_environment({"MOTO_PORT": str(port), LOAD_MANAGED_POLICIES: "true"})
        self.url = f"http://{host}:{port}"
        # moto builds a backend when first used, reading the setting then: one built before it was set (by another
        # moto in this process) would lack the managed policies, so the stack starts from a reset state
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        response = requests.post(
            f"{self.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        )
        response.raise_for_status()
        self.directory = iam.Directory(self.client("iam"), self.client("sts"))
        self.client("lambda").meta.events.register(
            "after-call.lambda", self._note_variables, unique_id=f"twin-lambda-{id(self)}"
        )
        self.gateway = IamGateway(self.url, self.directory, self.denials)
        self.gateway.start()
        self.metrics = alarms.MetricRecorder(self.client("cloudwatch"), self.clock)
        self.runtime.read_log = emf.LogMetrics(self.metrics).extract  # CloudWatch Logs' EMF reading
        return self.url

    def _set_environment(self, variables: dict[str, str]) -> None:
        """moto reads these from the process's environment (restored by ``stop``)."""
        for name, value in variables.items():
            self._previous_environment[name] = os.environ.get(name)
            os.environ[name] = value

    def stop(self) -> None:
        if self.alarms is not None:
            self.alarms.stop()
            self.alarms = None
        moto_seam.unroute(self._routed)
        self.runtime.stop()
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self._server is not None:
            # moto's state lives in this process: a stopped stack leaves nothing behind for the next one
            requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
            self._server.stop()
            self._server = None
            # moto's state is per process: another server started earlier (a twin) serves it again
            for name, value in self._previous_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._previous_environment = {}

    def client(self, service: str):
        return client(service, self.url, self.region)

    def assume(self, role_arn: str, session_name: str) -> dict[str, str]:
        """A session of one of the template's roles (moto's STS), as the environment variables of its holder."""
        answer = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])
        return session_environment(answer["Credentials"])

    def provision(self, sagemaker_url: str) -> Provisioned:
        template = self.template
        roles = self._create_roles()
        bucket = template.bucket()
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket.name)
        if bucket.versioned:  # StartPipeline names executions after the object version
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
        if bucket.eventbridge_enabled:
            s3.put_bucket_notification_configuration(
                Bucket=bucket.name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        topic_queues = {topic_arn: self._subscribe_queue(topic_arn) for topic_arn in self._create_topics()}
        self._create_model_package_groups(sagemaker_url)
        self._create_log_groups()
        self._create_alarms_and_dashboards()
        self.alarms = alarms.AlarmEvaluator(
            self.client("cloudwatch"), self.client("sns"), self.metrics, self.clock, self.region
        )
        self.metrics.on_put = self.alarms.schedule  # CloudWatch evaluates every minute; the twin after each batch
        self.alarms.start()
        functions = template.functions()
        lambda_client = self.client("lambda")
        for function in functions.values():
            role = template.role_of(function.logical_id)
            created = lambda_client.create_function(
                FunctionName=function.name,
                Runtime=function.runtime,
                Role=roles[role.name],
                Handler=function.handler,
                Code={"ZipFile": code_zip(function.code_dir)},
                Timeout=function.timeout,
                MemorySize=function.memory,
                Environment={"Variables": function.environment},
            )
            expect_same_arn(created["FunctionArn"], function.arn)
            self.runtime.register(self._runtime_config(function, role.arn, sagemaker_url))
        machine = template.state_machine()
        machine_role = template.role_of(machine.logical_id)
        state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=machine.name, definition=machine.definition, roleArn=roles[machine_role.name]
        )["stateMachineArn"]
        expect_same_arn(state_machine_arn, template.get_att(machine.logical_id, "Arn"))
        log_groups = {function.arn: function.log_group for function in functions.values()}
        self._routed = list(log_groups)
        invoker = self.directory.session(machine_role.arn, "execution")
        moto_seam.route(log_groups, self.runtime, invoker, self.denials)
        events = self.client("events")
        for rule in template.rules():
            events.put_rule(Name=rule.name, EventPattern=json.dumps(rule.pattern), State="ENABLED")
            events.put_targets(
                Rule=rule.name,
                Targets=[{"Id": f"target{index}", "Arn": arn} for index, arn in enumerate(rule.target_arns)],
            )
        return Provisioned(self.url, bucket.name, state_machine_arn, functions, topic_queues)

    def _runtime_config(self, function: FunctionSpec, role_arn: str, sagemaker_url: str) -> FunctionConfig:
        return FunctionConfig(
            name=function.name,
            arn=function.arn,
            handler=function.handler,
            code_dir=function.code_dir.resolve(),
            layer_dirs=[self._layer_dir(layer_arn) for layer_arn in function.layers],
            runtime=function.runtime,
            timeout=function.timeout,
            memory=function.memory,
            environment=twin_endpoints(self.gateway_url, sagemaker_url, self.region),
            credentials=lambda: self.assume(role_arn, function.name),
            variables=lambda: self.function_variables(function.name),
            concurrency=function.concurrency,
            log_group=function.log_group,
        )

    def function_variables(self, name: str) -> dict[str, str]:
        """A function's variables as Lambda holds them now (UpdateFunctionConfiguration changes them): as this
        stack's Lambda client last saw them, else lambda:GetFunctionConfiguration (asked on every invocation)."""
        if name not in self._variables:
            self.client("lambda").get_function_configuration(FunctionName=name)  # noted by _note_variables
        return dict(self._variables[name])

    def _note_variables(self, model, parsed: dict, **_) -> None:
        """The function configuration Lambda answers this stack's client carries the function's variables."""
        if model.name in _ANSWERS_CONFIGURATION and "FunctionName" in parsed:
            self._variables[parsed["FunctionName"]] = parsed.get("Environment", {}).get("Variables", {})

    def _layer_dir(self, layer_arn: str) -> Path:
        """What Lambda mounts at /opt/python for a layer: its ContentUri folder as the package it ships."""
        content = self.template.layer_content(layer_arn)
        opt_python = self.workdir / "layers" / content.name / "python"
        opt_python.mkdir(parents=True, exist_ok=True)
        link = opt_python / content.name
        if not link.exists():
            link.symlink_to(content, target_is_directory=True)
        return opt_python

    def _create_roles(self) -> dict[str, str]:
        """The stack's roles with their inline policies as written and the managed policies SAM attached
        (name -> ARN)."""
        iam_client = self.client("iam")
        roles = self.template.roles().values()
        arns = {}
        for role in roles:
            created = iam_client.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust))
            arns[role.name] = created["Role"]["Arn"]
            for policy_name, document in role.policies.items():
                iam_client.put_role_policy(
                    RoleName=role.name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
                )
            for policy_arn in role.managed_policy_arns:
                iam_client.attach_role_policy(RoleName=role.name, PolicyArn=policy_arn)
        return arns

    def _create_log_groups(self) -> None:
        logs = self.client("logs")
        for name, retention in self.template.log_groups().items():
            logs.create_log_group(logGroupName=name)
            if retention is not None:
                logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))

    def _create_alarms_and_dashboards(self) -> None:
        """The stack's alarms and dashboards, made as CloudFormation makes them: PutMetricAlarm and PutDashboard with
        the resources' properties (botocore checks them against the API; moto keeps them, evaluating no alarm: the
        twin's AlarmEvaluator does)."""
        cloudwatch = self.client("cloudwatch")
        for logical_id, resource in self.template.of_type("AWS::CloudWatch::Alarm").items():
            properties = self.template.resolve(resource["Properties"])
            name = self.template.physical(logical_id).ref
            cloudwatch.put_metric_alarm(**alarm_request(name, properties))
            # "When this operation creates an alarm, the alarm state is immediately set to INSUFFICIENT_DATA"
            # (PutMetricAlarm's API reference); moto starts it at OK
            cloudwatch.set_alarm_state(
                AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="Unchecked: Initial alarm creation"
            )
        for logical_id, resource in self.template.of_type("AWS::CloudWatch::Dashboard").items():
            body = self.template.resolve(resource["Properties"]["DashboardBody"])
            cloudwatch.put_dashboard(DashboardName=self.template.physical(logical_id).ref, DashboardBody=body)

    def _create_model_package_groups(self, sagemaker_url: str) -> None:
        """The stack's model package groups, made on the local SageMaker as CloudFormation makes them (as the
        administrator: CreateModelPackageGroup with the resource's properties, which carry the API's names)."""
        sagemaker = client("sagemaker", sagemaker_url, self.region)
        for logical_id, properties in self.template.model_package_groups().items():
            if "ModelPackageGroupPolicy" in properties:  # PutModelPackageGroupPolicy: not modelled by the twin
                raise RuntimeError(f"{logical_id}: the twin does not model ModelPackageGroupPolicy")
            created = sagemaker.create_model_package_group(**properties)
            expect_same_arn(created["ModelPackageGroupArn"], self.template.physical(logical_id).ref)

    def _create_topics(self) -> list[str]:
        sns = self.client("sns")
        arns = []
        for topic_arn in self.template.topics().values():
            arns.append(sns.create_topic(Name=topic_arn.rsplit(":", 1)[1])["TopicArn"])
        return arns

    def _subscribe_queue(self, topic_arn: str) -> str:
        sqs = self.client("sqs")
        queue_url = sqs.create_queue(QueueName=f"{topic_arn.rsplit(':', 1)[1]}-twin-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        return queue_url

    def drain(self, queue_url: str) -> list[str]:
        """Messages waiting in a twin inbox queue (deleted as they are read)."""
        sqs = self.client("sqs")
        messages = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                messages.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages
