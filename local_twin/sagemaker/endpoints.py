"""Models, endpoint configurations and endpoints that really serve.

CreateEndpoint/UpdateEndpoint start a serving container over the model's model.tar.gz as the PyTorch 2.6 inference
image does (serving_entrypoint.py: the image's entry point, the SageMaker PyTorch inference toolkit starting
TorchServe, in the image's stand-in .venv-inference-image, with the image's and the model's environment) and wait
for ``/ping``. An update keeps the old container answering until the new one is healthy, then swaps; a new one
that never gets healthy is stopped and the endpoint stays InService on its old configuration with FailureReason
set, as SageMaker's rollback leaves it.

InvokeEndpoint is as strict as AWS's: a body over 4 MB (serverless variant) or 6 MB (instance variant) is
refused with ValidationError "oversize body"; a serverless variant without provisioned concurrency that was
idle for ``ColdStart.idle_seconds`` has a cold start of ``ColdStart.seconds`` during which invocations get
ModelNotReadyException (the serving container is kept: only the delay is played); what the container answers
other than 200 comes back as ModelError with its status and body (the toolkit's "message\ntraceback" for an error
in inference.py, TorchServe's JSON for a worker that died); no answer in 60 s is SageMaker's timeout ModelError.
Each deployment's start-up output goes to CloudWatch Logs, ``/aws/sagemaker/Endpoints/<endpoint>``, written with
the model's execution role as SageMaker does.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from local_twin import iam
from local_twin.account import ACCOUNT_ID
from local_twin.faults import Faults
from local_twin.sagemaker import quotas
from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.errors import SageMakerError, failure_reason, not_found, now, validation
from local_twin.sagemaker.jobs import split_s3_uri
from local_twin.sagemaker.roles import ExecutionRoles, RoleSession
from local_twin.sagemaker.runtime import JobRuntime

HEALTH_TIMEOUT_SECONDS = 180
INVOCATION_TIMEOUT_SECONDS = 60
# InvokeEndpoint's request payload limits ("4 MB" serverless, "6 MB" instance, read as 10^6 B: the stricter).
SERVERLESS_PAYLOAD_LIMIT_BYTES = 4_000_000
INSTANCE_PAYLOAD_LIMIT_BYTES = 6_000_000
LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"  # one group per endpoint, created by SageMaker, not by the stack
STOP_GRACE_SECONDS = 10  # docker stop's: TorchServe takes ~6 s to end on SIGTERM
ENTRYPOINT = Path(__file__).with_name("serving_entrypoint.py")
TORCHSERVE_MODEL = "model"  # the name the toolkit registers the model under (torchserve.DEFAULT_TS_MODEL_NAME)
# The PyTorch 2.6 inference image's own environment (aws/deep-learning-containers,
# pytorch/inference/docker/2.6/py3/Dockerfile.cpu, target sagemaker: its ENV lines; TEMP and PATH are the server's).
IMAGE_ENVIRONMENT = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "UTF-8",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "DLC_CONTAINER_TYPE": "inference",
    "MKL_THREADING_LAYER": "GNU",
    "SAGEMAKER_SERVING_MODULE": "sagemaker_pytorch_serving_container.serving:main",
}
# What SageMaker answers when the container does not answer /invocations within 60 s (real answers, as reported).
CONTAINER_TIMEOUT_MESSAGE = (
    "Your invocation timed out while waiting for a response from container primary. Review the latency metrics for "
    "each container in Amazon CloudWatch, resolve the issue, and try again."
)


@dataclass
class ColdStart:
    """How long an idle serverless variant stays warm, and how long it then takes to start again.

    AWS publishes neither (a cold start depends on the model's size and the container's start-up, and may
    take up to the 3 minutes allowed for /ping): the defaults keep the twin's demo realistic, tests shorten them.
    """

    idle_seconds: float = 600.0
    seconds: float = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_range(size: int) -> int:
    """The first of ``size`` consecutive ports that are free now."""
    while True:
        first = free_port()
        try:
            for port in range(first + 1, first + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first


class Server:
    """One serving container: the inference image's entry point (serving_entrypoint.py: the SageMaker PyTorch
    inference toolkit starting TorchServe) in the image's stand-in, in a process group of its own.

    ``folder`` is the container's: the model in ``folder/model`` (``/opt/ml/model`` in the image), the toolkit's
    and TorchServe's files beside it. ``environment`` is what SageMaker gives the container (the model's
    ``Environment``, the execution role's credentials); the ports are the server's own: ``SAGEMAKER_BIND_TO_PORT``
    for /ping and /invocations (TorchServe's inference and management API, as the toolkit configures them), and
    the range ``SAGEMAKER_SAFE_PORT_RANGE`` names for TorchServe's metrics and gRPC APIs (fixed ports in the image,
    which has the machine to itself).
    """

    def __init__(self, python: str, folder: Path, log_path: Path, environment: dict):
        self.port, self.folder = free_port(), folder
        safe = free_port_range(3)
        # TorchServe's workers listen on $TMPDIR/.ts.sock.<port>: an AF_UNIX path (108 bytes at most), so a short one
        self.tmp = Path(tempfile.mkdtemp(prefix="twin-ts-"))
        environment = {
            **environment,
            "PATH": f"{Path(python).parent}{os.pathsep}{environment.get('PATH', os.defpath)}",  # the image's python
            "SAGEMAKER_BASE_DIR": str(folder),
            "SAGEMAKER_BIND_TO_PORT": str(self.port),
            "SAGEMAKER_SAFE_PORT_RANGE": f"{safe}-{safe + 2}",
            # on loopback, as every server of the twin: the image's 0.0.0.0 would put the model on the network
            "TS_INFERENCE_ADDRESS": f"http://127.0.0.1:{self.port}",
            "TS_MANAGEMENT_ADDRESS": f"http://127.0.0.1:{self.port}",
            "TS_METRICS_ADDRESS": f"http://127.0.0.1:{safe}",
            "TS_GRPC_INFERENCE_PORT": str(safe + 1),
            "TS_GRPC_MANAGEMENT_PORT": str(safe + 2),
            "TMPDIR": str(self.tmp),  # TorchServe's pid file and its workers' sockets
            "TEMP": str(self.tmp),  # Java's temp folder (the image sets TEMP=/tmp)
        }
        self.log = open(log_path, "ab")  # noqa: SIM115 - open for the life of the process
        self.process = subprocess.Popen(
            [python, "-P", str(ENTRYPOINT), "serve"], stdout=self.log, stderr=subprocess.STDOUT, env=environment,
            cwd=folder, start_new_session=True,
        )  # fmt: skip
        self._in_flight = 0
        self._idle = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def invoke(self, body: bytes, headers: dict) -> requests.Response:
        """POST /invocations, counted: a swapped-out server is stopped only once its requests are answered."""
        with self._idle:
            self._in_flight += 1
        try:
            return requests.post(f"{self.url}/invocations", data=body, headers=headers,
                                 timeout=INVOCATION_TIMEOUT_SECONDS)  # fmt: skip
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def drain_and_stop(self) -> None:
        """What a blue/green switch does with the old fleet: let it finish what it was answering, then stop it."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=INVOCATION_TIMEOUT_SECONDS)
        self.stop()

    def healthy(self, timeout: float = HEALTH_TIMEOUT_SECONDS) -> bool:
        """/ping answers 200 and a TorchServe worker has loaded the model. TorchServe 0.12 answers /ping as soon as
        its workers are started, even while they fail to load the model (invocations then wait for one that
        loads): SageMaker's minutes of provisioning hide that load, the twin's seconds do not, so it also asks
        TorchServe's management API (on the same port, as the toolkit configures it) for a READY worker. A model
        that never loads fails the check, as SageMaker reports it ("did not pass the ping health check")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/ping", timeout=2).status_code == 200 and self._model_loaded():
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.25)
        return False

    def _model_loaded(self) -> bool:
        described = requests.get(f"{self.url}/models/{TORCHSERVE_MODEL}", timeout=2)
        if described.status_code != 200:
            return False
        return any(worker.get("status") == "READY" for model in described.json() for worker in model.get("workers", []))

    def processes(self) -> list[int]:
        """The container's live processes: its process group (the toolkit, TorchServe's Java frontend and its
        Python workers all stay in it)."""
        return [process.pid for process in psutil.process_iter(["status"]) if _in_group(process, self.process.pid)]

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """As ``docker stop`` ends a container: SIGTERM to all of it, SIGKILL to what is left after the grace (at
        once with no grace: what the twin's own exit does, as it kills its jobs)."""
        group = self.process.pid
        if grace_seconds:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.processes() and time.monotonic() < deadline:  # killed: gone once init has reaped them
            time.sleep(0.05)
        self.log.close()
        # the instance goes with its processes, and its copy of the model with it (the log stays)
        shutil.rmtree(self.folder / "model", ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _in_group(process: psutil.Process, group: int) -> bool:
    try:
        return process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == group
    except (ProcessLookupError, psutil.Error):
        return False


class Endpoint:
    def __init__(self, name: str, config_name: str, tags: list):
        self.name = name
        self.config_name = config_name
        self.status = "Creating"
        self.failure_reason = None
        self.created = self.modified = now()
        self.server: Server | None = None
        self.updating_to: str | None = None  # during an update: the new configuration, its fleet beside the old
        self.tags = tags
        self.last_used = time.monotonic()  # a variant that just passed /ping is warm
        self.warm_at: float | None = None  # while a cold start runs: when it ends
        self.log_error: str | None = None  # why its logs could not be written to CloudWatch Logs


class Endpoints:
    """Models, endpoint configurations and endpoints; each deployment in a folder under ``folder``, served with
    ``runtime`` as a session of its model's execution role (``roles``). ``lock`` is the local SageMaker's: an
    endpoint is checked against the ``account``'s quotas and counted in one step with every other create.
    ``resolve_package`` gives the container a model package serves (the model registry's ``serving_container``,
    which refuses a package that is not Approved): a model created from a package serves that."""

    def __init__(
        self,
        folder: Path,
        runtime: JobRuntime,
        roles: ExecutionRoles,
        arns: Arns,
        account: quotas.AccountQuotas,
        faults: Faults,
        lock: threading.RLock,
        resolve_package: Callable[[str], dict] | None = None,
    ):
        self.folder, self.runtime, self.roles, self.arns = folder, runtime, roles, arns
        self.account, self.faults, self.lock = account, faults, lock
        self.resolve_package = resolve_package
        self.models: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}  # model name -> the container it serves (its package's, if it names one)
        self.configs: dict[str, dict] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.cold_start = ColdStart()
        self._warming = threading.Lock()
        self._deploying: set[threading.Thread] = set()  # fleets being started (create, update)
        self._stopping = False  # stop_all was called: a fleet that comes up now is stopped at once

    # ------------------------------------------------------------------ models and configurations

    def create_model(self, request: dict) -> str:
        """DescribeModel answers the request as it came (a package's model: ``{"ModelPackageName": arn}``, as AWS's
        DescribeModel echoes the request); the container it serves is resolved now, from the package if it names one
        (CreateModel from a model package, SageMaker developer guide)."""
        name = request["ModelName"]
        if name in self.models:
            raise validation(f'Cannot create already existing model "{self.arns.sagemaker("model", name)}".')
        container = request.get("PrimaryContainer", {})
        if "ModelPackageName" in container:
            if self.resolve_package is None:
                raise validation("This local SageMaker has no model registry to read model packages from.")
            container = self.resolve_package(container["ModelPackageName"])
        self.containers[name] = container
        self.models[name] = {**request, "CreationTime": now(), "ModelArn": self.arns.sagemaker("model", name)}
        return self.models[name]["ModelArn"]

    def describe_model(self, name: str) -> dict:
        if name not in self.models:
            raise not_found("model", name)
        return {k: v for k, v in self.models[name].items() if k != "Tags"}

    def delete_model(self, name: str) -> None:
        self.describe_model(name)
        del self.models[name], self.containers[name]

    def model_summaries(self, name_contains: str = "") -> list[dict]:
        return [
            {"ModelName": name, "ModelArn": model["ModelArn"], "CreationTime": model["CreationTime"]}
            for name, model in self.models.items()
            if name_contains in name
        ]

    def config_summaries(self, name_contains: str = "") -> list[dict]:
        return [
            {"EndpointConfigName": name, "EndpointConfigArn": config["EndpointConfigArn"],
             "CreationTime": config["CreationTime"]}
            for name, config in self.configs.items()
            if name_contains in name
        ]  # fmt: skip

    def create_config(self, request: dict) -> str:
        name = request["EndpointConfigName"]
        if name in self.configs:
            raise validation(f'Cannot create already existing endpoint configuration "{name}".')
        for variant in request["ProductionVariants"]:
            if variant["ModelName"] not in self.models:
                raise validation(f'Could not find model "{variant["ModelName"]}".')
            serverless = variant.get("ServerlessConfig") or {}
            if serverless.get("ProvisionedConcurrency", 0) > serverless.get("MaxConcurrency", 0):
                raise validation("ProvisionedConcurrency must be less than or equal to MaxConcurrency.")
        arn = self.arns.sagemaker("endpoint-config", name)
        self.configs[name] = {**request, "CreationTime": now(), "EndpointConfigArn": arn}
        return arn

    def describe_config(self, name: str) -> dict:
        if name not in self.configs:
            raise not_found("endpoint configuration", name)
        return {k: v for k, v in self.configs[name].items() if k != "Tags"}

    def delete_config(self, name: str) -> None:
        self.describe_config(name)
        del self.configs[name]

    # ------------------------------------------------------------------ endpoints

    def _model(self, config_name: str) -> dict:
        return self.models[self.configs[config_name]["ProductionVariants"][0]["ModelName"]]

    def _role(self, endpoint: str, role_arn: str) -> RoleSession:
        """An execution role (its model's) as the endpoint acts with it: assumed for the endpoint's ARN."""
        return self.roles.session(role_arn, f"SageMaker-{endpoint}", self.arns.sagemaker("endpoint", endpoint))

    def _model_folder(self, endpoint: str, config_name: str) -> Path:
        """Download and extract the config's model.tar.gz for this endpoint, in a folder of this deployment's
        own (an update to the same config must not share the serving fleet's, which goes when it stops)."""
        model_name = self.configs[config_name]["ProductionVariants"][0]["ModelName"]
        model = self.models[model_name]
        deployment = f"{config_name}-{uuid.uuid4().hex[:8]}"
        folder = self.folder / endpoint / deployment / "model"
        folder.mkdir(parents=True, exist_ok=True)
        bucket, key = split_s3_uri(self.containers[model_name]["ModelDataUrl"])
        archive = folder.parent / "model.tar.gz"
        s3 = self._role(endpoint, model["ExecutionRoleArn"]).client("s3")  # the model's role reads it
        s3.download_file(bucket, key, str(archive))
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        archive.unlink()
        return folder

    def _start_server(self, endpoint: Endpoint, config_name: str) -> Server | None:
        model_dir = self._model_folder(endpoint.name, config_name)
        model_name = self.configs[config_name]["ProductionVariants"][0]["ModelName"]
        role = self._role(endpoint.name, self._model(config_name)["ExecutionRoleArn"])
        environment = {
            **self.runtime.environment,
            **IMAGE_ENVIRONMENT,
            **self.containers[model_name].get("Environment", {}),  # CreateModel's: SAGEMAKER_PROGRAM etc.
            **role.credentials(),
        }
        if self.faults.unhealthy_next_update and endpoint.server is not None:
            self.faults.unhealthy_next_update = False
            # a container that cannot start its model server: TorchServe finds no Java, the toolkit gives up
            environment["JAVA_HOME"] = str(model_dir.parent / "no-java")
        log_path = model_dir.parent / "serve.log"
        server = Server(self.runtime.serving_python, model_dir.parent, log_path, environment)
        healthy = server.healthy()
        # the container's start-up output, where SageMaker sends an endpoint's logs (one group per endpoint)
        endpoint.log_error = role.send_logs(
            f"{LOG_GROUP_PREFIX}{endpoint.name}", f"AllTraffic/{config_name}",
            log_path.read_text(errors="replace").splitlines(),
        )  # fmt: skip
        if healthy:
            return server
        server.stop()
        return None

    def _start_deploying(self, endpoint: Endpoint, config_name: str) -> None:
        deploying = threading.Thread(target=self._deploy, args=(endpoint, config_name), daemon=True)
        with self.lock:
            self._deploying.add(deploying)
        deploying.start()

    def _deploy(self, endpoint: Endpoint, config_name: str) -> None:
        try:
            server = self._start_server(endpoint, config_name)
        except Exception as error:
            server, reason = None, failure_reason(error)
        else:
            reason = "the serving container did not pass its /ping health check"
        with self.lock:
            self._deploying.discard(threading.current_thread())
            if self._stopping:  # the twin went away while this fleet started: nothing may outlive it
                if server is not None:
                    server.stop(0)
                return
        previous = endpoint.server
        if server is None:
            endpoint.failure_reason = reason
            endpoint.status = "InService" if previous is not None else "Failed"  # an update rolls back
        else:
            endpoint.server, endpoint.config_name, endpoint.failure_reason = server, config_name, None
            endpoint.status, endpoint.last_used, endpoint.warm_at = "InService", time.monotonic(), None
            if previous is not None:
                previous.drain_and_stop()
        endpoint.updating_to, endpoint.modified = None, now()

    def _check_config(self, name: str) -> None:
        if name not in self.configs:
            raise validation(f'Could not find endpoint configuration "{name}".')

    def _check_rollback_alarms(self, request: dict) -> None:
        """Blue/green auto-rollback reads the alarms with the endpoint's execution role (its models' role):
        "Ensure that your IAM execution role has permission to perform the cloudwatch:DescribeAlarms action on
        the auto-rollback alarms you specify" (SageMaker developer guide, "Auto-Rollback Configuration and
        Monitoring"); the caller's read is checked with the call's other permissions (authorization.py). When
        AWS refuses a role without it is not documented: the twin refuses the call."""
        alarms = request.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
        if not alarms:
            return
        name = request["EndpointName"]
        reads = [iam.Request("cloudwatch:DescribeAlarms", self.arns.alarm(a["AlarmName"])) for a in alarms]
        variants = self.configs[request["EndpointConfigName"]]["ProductionVariants"]
        for role in dict.fromkeys(self.models[variant["ModelName"]]["ExecutionRoleArn"] for variant in variants):
            try:
                self._role(name, role).authorize(reads)
            except iam.AccessDenied as error:
                raise validation(
                    f"The execution role {role} of endpoint {name} cannot read its auto-rollback alarms: "
                    f"{error.message}"
                ) from error

    def create(self, request: dict) -> str:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        if name in self.endpoints:
            raise validation(f'Cannot create already existing endpoint "{self.arns.sagemaker("endpoint", name)}".')
        self._check_config(config_name)
        self._check_rollback_alarms(request)
        with self.lock:  # checked and counted together: two creates cannot both take the last of a quota
            self._check_quotas(name, config_name, update=False)
            endpoint = self.endpoints[name] = Endpoint(name, config_name, request.get("Tags", []))
        self._start_deploying(endpoint, config_name)
        return self.arns.sagemaker("endpoint", name)

    def _check_quotas(self, name: str, config_name: str, update: bool) -> None:
        """ResourceLimitExceeded unless the account's quotas hold ``config_name``'s variant for endpoint ``name``
        beside every fleet held now: per endpoint but a failed one, its configuration's variant, and during an
        update the new one's too (a blue/green update runs both fleets until the new one serves)."""
        fleets = {}
        for endpoint in self.endpoints.values():
            if endpoint.status != "Failed":
                held = [self.configs.get(config) for config in (endpoint.config_name, endpoint.updating_to) if config]
                fleets[endpoint.name] = [config["ProductionVariants"][0] for config in held if config is not None]
        variant = self.configs[config_name]["ProductionVariants"][0]
        quotas.check_endpoint(self.account, fleets, name, variant, update)

    def is_serverless(self, config_name: str) -> bool:
        return "ServerlessConfig" in self.configs[config_name]["ProductionVariants"][0]

    def update(self, request: dict) -> str:
        name, config_name = request["EndpointName"], request["EndpointConfigName"]
        arn = self.arns.sagemaker("endpoint", name)
        endpoint = self.get(name)
        self._check_config(config_name)
        self._check_rollback_alarms(request)
        if endpoint.status != "InService":
            raise validation(f'Cannot update in-progress endpoint "{arn}".')
        if endpoint.config_name in self.configs and self.is_serverless(endpoint.config_name) != self.is_serverless(
            config_name
        ):
            # AWS documents the rule ("updating a real-time inference endpoint to ... serverless ... is not
            # supported", and back); its exact message is not published: this one says what happened.
            raise validation(
                f'Cannot update endpoint "{arn}" between a real-time (instance-based) and a serverless configuration: '
                "create a new endpoint instead."
            )
        with self.lock:
            self._check_quotas(name, config_name, update=True)
            endpoint.status, endpoint.updating_to, endpoint.modified = "Updating", config_name, now()
        self._start_deploying(endpoint, config_name)
        return arn

    def get(self, name: str) -> Endpoint:
        if name not in self.endpoints:
            raise not_found("endpoint", name)
        return self.endpoints[name]

    def describe(self, name: str) -> dict:
        endpoint = self.get(name)
        described = {
            "EndpointName": name,
            "EndpointArn": self.arns.sagemaker("endpoint", name),
            "EndpointConfigName": endpoint.config_name,
            "EndpointStatus": endpoint.status,
            "CreationTime": endpoint.created,
            "LastModifiedTime": endpoint.modified,
            "ProductionVariants": [{"VariantName": "AllTraffic"}],
        }
        if endpoint.failure_reason:
            described["FailureReason"] = endpoint.failure_reason
        return described

    def delete(self, name: str) -> None:
        endpoint = self.get(name)
        if endpoint.server is not None:
            endpoint.server.stop()
        del self.endpoints[name]

    def summaries(self) -> list[dict]:
        return [
            {
                "EndpointName": e.name,
                "EndpointArn": self.arns.sagemaker("endpoint", e.name),
                "CreationTime": e.created,
                "LastModifiedTime": e.modified,
                "EndpointStatus": e.status,
            }
            for e in self.endpoints.values()
        ]

    def stop_all(self) -> None:
        """Every serving container killed, side by side: the twin is going away, nothing waits for an answer (a
        TorchServe container takes ~5 s to end on SIGTERM). A fleet still starting (an update the twin's last
        call asked for) is waited for and stopped as it comes up."""
        with self.lock:
            self._stopping = True
            deploying = list(self._deploying)
        for thread in deploying:
            thread.join()
        stopping = [
            threading.Thread(target=endpoint.server.stop, args=(0,))
            for endpoint in self.endpoints.values()
            if endpoint.server is not None
        ]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    def _variant(self, endpoint: Endpoint) -> dict:
        return self.configs[endpoint.config_name]["ProductionVariants"][0]

    def _check_payload(self, endpoint: Endpoint, body: bytes) -> None:
        serverless = "ServerlessConfig" in self._variant(endpoint)
        limit = SERVERLESS_PAYLOAD_LIMIT_BYTES if serverless else INSTANCE_PAYLOAD_LIMIT_BYTES
        if len(body) > limit:
            raise SageMakerError("ValidationError", f"Request {uuid.uuid4()} has oversize body.")

    def _check_warm(self, endpoint: Endpoint) -> None:
        """A serverless variant with no provisioned concurrency scales to zero when idle: the next call starts it."""
        serverless = self._variant(endpoint).get("ServerlessConfig")
        if not serverless or serverless.get("ProvisionedConcurrency"):
            return
        with self._warming:
            now = time.monotonic()
            if endpoint.warm_at is None and now - endpoint.last_used > self.cold_start.idle_seconds:
                endpoint.warm_at = now + self.cold_start.seconds
            if endpoint.warm_at is not None and now < endpoint.warm_at:
                raise SageMakerError(
                    "ModelNotReadyException",
                    f"Endpoint {endpoint.name}'s serverless variant is still being provisioned. "
                    "Wait and try your request again.",
                    429,
                )
            endpoint.warm_at, endpoint.last_used = None, now

    def invoke(self, name: str, body: bytes, content_type: str | None, accept: str | None) -> tuple[int, bytes, str]:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise SageMakerError("ValidationError", f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        server = endpoint.server
        if server is None:
            raise SageMakerError("ValidationError", f"Endpoint {name} is in {endpoint.status} status, not InService.")
        self._check_payload(endpoint, body)
        self._check_warm(endpoint)
        headers = {"Content-Type": content_type or "application/octet-stream", "Accept": accept or "application/json"}
        try:
            try:
                answer = server.invoke(body, headers)
            except requests.ConnectionError:
                if endpoint.server in (None, server):
                    raise
                answer = endpoint.server.invoke(body, headers)  # swapped while asking the old one: ask the new
        except requests.Timeout as error:
            raise model_error(self.arns, name, 0, CONTAINER_TIMEOUT_MESSAGE) from error
        except requests.RequestException as error:
            raise model_error(self.arns, name, 500, f"the model container did not answer: {error}") from error
        if answer.status_code != 200:
            raise model_error(self.arns, name, answer.status_code, answer.text)
        return 200, answer.content, answer.headers.get("Content-Type", "application/json")


def model_error(arns: Arns, endpoint: str, status: int, message: str) -> SageMakerError:
    """InvokeEndpoint's ModelError (424): the container's status and whole body (the toolkit's "message\ntraceback",
    TorchServe's own JSON, or nothing), in SageMaker's words, pointing at the endpoint's logs. A container that does
    not answer in time is status 0 with SageMaker's own message."""
    side = "client" if 0 < status < 500 else "server"
    group = f"{LOG_GROUP_PREFIX}{endpoint}"
    region = arns.region
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
    error = SageMakerError(
        "ModelError",
        f'Received {side} error ({status}) from primary with message "{message}". '
        f"See {console} in account {ACCOUNT_ID} for more information.",
        424,
    )
    error.fields = {
        "OriginalStatusCode": status,
        "OriginalMessage": message,
        "LogStreamArn": arns.log_group(group),
    }
    return error
