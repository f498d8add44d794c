"""moto hooks that make its Lambda and EventBridge real enough for the twin.

moto runs a Lambda's code only in docker, and its EventBridge cannot deliver to a Lambda or a state
machine target. Two private methods are replaced (moto is pinned to one minor version for that, and
tests/twin/test_routing.py fails loudly when either route stops firing):

- ``LambdaFunction._invoke_lambda``: runs the function's real handler from the code zip it was created
  with, in this process, with the function's environment applied for the call. A raised exception becomes
  a FunctionError whose errorType is the exception's class name, so the ASL's Retry/Catch see it.
- ``Rule.send_to_targets``: Lambda targets are invoked asynchronously (as EventBridge does) and state
  machine targets start an execution; every other target type keeps moto's own delivery.
"""

import contextlib
import hashlib
import importlib
import io
import json
import logging
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.events.models import Rule
from moto.stepfunctions.models import stepfunctions_backends
from moto.utilities.arns import parse_arn

from local_twin import environ
from local_twin.faults import Faults

log = logging.getLogger(__name__)

CODE_CACHE = Path(tempfile.gettempdir()) / "twin-lambda-code"
# sys.path and the imported modules are process-wide, and executions run on background threads:
# one handler call at a time.
_HANDLER_LOCK = threading.RLock()
_original_send_to_targets = Rule.send_to_targets
_FAULTS = Faults()
# ((ARN, last modified), code folder) -> the modules its handler imported: a fresh container per function
# created or updated, as Lambda starts new ones
_FUNCTION_MODULES: dict[tuple[tuple[str, str], Path], dict] = {}


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def code_dir(function: LambdaFunction) -> Path:
    """The function's zip, extracted once per content hash (what Lambda would mount at /var/task)."""
    digest = hashlib.sha256(function.code_bytes).hexdigest()[:16]
    target = CODE_CACHE / digest
    if not target.is_dir():
        partial = CODE_CACHE / f"{digest}.{uuid.uuid4().hex}"
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(partial)
        with contextlib.suppress(OSError):  # another thread won the race: use its copy
            partial.rename(target)
    return target


@contextlib.contextmanager
def function_environment(variables: dict[str, str], path: Path):
    """The function's variables for this thread only (environ.py); its code folder first on the import path."""
    saved_path = list(sys.path)
    sys.path.insert(0, str(path))
    try:
        with environ.install().overlay({key: str(value) for key, value in variables.items()}):
            yield
    finally:
        sys.path[:] = saved_path


def top_level_names(path: Path) -> frozenset[str]:
    """The packages and modules a code folder provides (what `import` would find there first)."""
    return frozenset(entry.stem if entry.suffix == ".py" else entry.name for entry in path.iterdir())


@contextlib.contextmanager
def function_modules(container: tuple[str, str], path: Path):
    """The function's own imported modules, kept between its calls as its container would keep them.

    Handler modules build clients and Powertools objects from the environment at import: sharing them with
    another function, another twin or the host process (tests import functions/ too) would carry one
    function's configuration into another's call.
    """
    provided = top_level_names(path)

    def ours(name: str) -> bool:
        return name.partition(".")[0] in provided

    # a copy: the local SageMaker's job threads import modules while a handler runs
    host = {name: module for name, module in list(sys.modules.items()) if ours(name)}
    for name in host:
        del sys.modules[name]
    sys.modules.update(_FUNCTION_MODULES.get((container, path), {}))
    try:
        yield
    finally:
        own = _FUNCTION_MODULES[(container, path)] = {n: m for n, m in list(sys.modules.items()) if ours(n)}
        for name in own:
            del sys.modules[name]
        sys.modules.update(host)


def run_handler(function: LambdaFunction, event) -> tuple[str, bool, str]:
    """Call the real handler; returns (payload JSON, errored, logs) as moto's docker path does."""
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    module_name, handler_name = function.handler.rsplit(".", 1)
    variables = {
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        **function.environment_vars,
    }
    context = LambdaContext(
        function_name=function.function_name,
        memory_limit_in_mb=int(function.memory_size),
        invoked_function_arn=function.function_arn,
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + int(function.timeout),
    )
    if _FAULTS.times_out(function.function_name):
        return timed_out(context.aws_request_id, int(function.timeout))
    path = code_dir(function)
    started = time.monotonic()
    with (
        _HANDLER_LOCK,
        function_environment(variables, path),
        function_modules((function.function_arn, function.last_modified), path),
    ):
        try:
            handler = getattr(importlib.import_module(module_name), handler_name)
            result = handler(event, context)
        except Exception as error:  # the Lambda runtime reports any exception as a function error
            log.info("%s raised %s: %s", function.function_name, type(error).__name__, error)
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return json.dumps(payload), True, ""
    if time.monotonic() - started > int(function.timeout):  # Lambda would have stopped it: its result is lost
        return timed_out(context.aws_request_id, int(function.timeout))
    return json.dumps(result), False, ""


def timed_out(request_id: str, timeout: int) -> tuple[str, bool, str]:
    """What Lambda reports for a handler that outlived its Timeout (Step Functions sees Sandbox.Timedout)."""
    log.info("request %s timed out after %d s", request_id, timeout)
    payload = {"errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"}
    return json.dumps({**payload, "errorType": "Sandbox.Timedout"}), True, ""


def _invoke_lambda(self: LambdaFunction, event=None) -> tuple[str, bool, str]:
    self.logs_backend.ensure_log_group(self.logs_group_name)
    return run_handler(self, event)


def _deliver_async(function_arn: str, event: dict) -> None:
    arn = parse_arn(function_arn)
    backend = lambda_backends[arn.account][arn.region]
    body = json.dumps(event)
    thread = threading.Thread(
        target=backend.invoke,
        args=(function_arn, None, body, {"x-amz-invocation-type": "Event"}, {}),
        name=f"eventbridge->{arn.resource_id}",
        daemon=True,
    )
    thread.start()


def as_aws_sends_it(event: dict) -> dict:
    """moto names the S3 object's ETag ``eTag``; AWS (and Powertools' model) say ``etag``."""
    detail_object = event.get("detail", {}).get("object", {})
    if event.get("source") != "aws.s3" or "eTag" not in detail_object:
        return event
    fixed = json.loads(json.dumps(event))
    fixed["detail"]["object"]["etag"] = fixed["detail"]["object"].pop("eTag")
    return fixed


def _send_to_targets(self: Rule, original_event: dict, transform_input: bool = True) -> None:
    if not self.event_pattern.matches_event(original_event):
        return
    original_event = as_aws_sends_it(original_event)
    others = []
    for target in self.targets:
        arn = parse_arn(target["Arn"])
        if arn.service == "lambda":
            _deliver_async(target["Arn"], original_event)
        elif arn.service == "states":
            backend = stepfunctions_backends[arn.account][arn.region]
            backend.start_execution(target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(original_event))
        else:
            others.append(target)
    if others:
        lambda_and_states = self.targets
        self.targets = others
        try:
            _original_send_to_targets(self, original_event, transform_input)
        finally:
            self.targets = lambda_and_states


def install(faults: Faults) -> None:
    """Replace moto's two methods (idempotent); Lambda invocations honour ``faults`` from now on."""
    global _FAULTS
    _FAULTS = faults
    LambdaFunction._invoke_lambda = _invoke_lambda
    Rule.send_to_targets = _send_to_targets
