"""The two deliveries moto cannot make without docker or at all, made by replacing two of its private methods.
This is the one module of the twin that touches moto's internals; everything else speaks moto's public API
(its server's AWS endpoints, ``/moto-api/``, its documented settings).

moto runs a Lambda's code only in docker, and its EventBridge cannot deliver to a Lambda or a state machine
target. Two private methods are replaced (moto is pinned to one minor version for that, and
tests/twin/test_routing.py fails loudly when either route stops firing):

- ``LambdaFunction._invoke_lambda``, which moto's Invoke API reaches. In the twin only the state machine's
  tasks call that API (the API front and EventBridge targets invoke the runtime directly), so the call is
  authorized with the state machine's role (``lambda:InvokeFunction`` on the function), then run by the
  twin's Lambda runtime (lambda_runtime.py: a process of the function's own). A denial or a throttle comes
  back as the error Step Functions reports for it (Lambda.AWSLambdaException, Lambda.TooManyRequestsException).
- ``Rule.send_to_targets``: Lambda targets are invoked asynchronously through the runtime (as EventBridge
  does) and state machine targets start an execution; every other target type keeps moto's own delivery.

The replacements are class-wide, so they find their twin by the function's ARN (``route``), which names the
account and region moto keys its state by: they would serve two twins in one process that differ in either. What
keeps the twin one per process is moto itself (docs/local_twin.md): every moto server in a process serves the
same in-process state, and the twin's ARNs all name one account.
"""

import json
import threading
import uuid
from dataclasses import dataclass

from moto.awslambda.models import LambdaFunction
from moto.events.models import Rule
from moto.stepfunctions.models import stepfunctions_backends
from moto.utilities.arns import parse_arn

from local_twin import iam
from local_twin.lambda_runtime import LambdaRuntime, RequestTooLarge, Throttled, error_payload

_original_send_to_targets = Rule.send_to_targets


@dataclass(frozen=True)
class Route:
    runtime: LambdaRuntime
    invoker: iam.Principal  # the state machine's role: the only caller of moto's Invoke API in the twin
    denials: iam.DenialLog
    log_group: str  # the function's LoggingConfig group (moto's Lambda keeps none), else /aws/lambda/<name>


_routes: dict[str, Route] = {}  # function ARN -> how to run it
_lock = threading.Lock()


def route(log_groups: dict[str, str], runtime: LambdaRuntime, invoker: iam.Principal, denials: iam.DenialLog) -> None:
    """Run the functions of ``log_groups`` (function ARN -> its log group) in ``runtime``."""
    with _lock:
        _routes.update({arn: Route(runtime, invoker, denials, group) for arn, group in log_groups.items()})


def unroute(function_arns: list[str]) -> None:
    with _lock:
        for arn in function_arns:
            _routes.pop(arn, None)


def _route(function_arn: str) -> Route:
    with _lock:
        if function_arn not in _routes:
            raise LookupError(f"no twin runs {function_arn}")
        return _routes[function_arn]


def _as_bytes(event) -> bytes:
    if event is None:
        return b"{}"
    if isinstance(event, bytes):
        return event
    return event.encode() if isinstance(event, str) else json.dumps(event).encode()


def _invoke_lambda(self: LambdaFunction, event=None) -> tuple[str, bool, str]:
    target = _route(self.function_arn)
    self.logs_backend.ensure_log_group(target.log_group)  # Lambda creates the group a function writes to
    try:
        iam.authorize(target.invoker, [iam.Request("lambda:InvokeFunction", self.function_arn)], target.denials)
        payload, errored = target.runtime.invoke(self.function_arn, _as_bytes(event))
    except iam.AccessDenied as denied:
        message = f"{denied.message} (Service: Lambda, Status Code: 403, Error Code: AccessDeniedException)"
        return error_payload("Lambda.AWSLambdaException", message).decode(), True, ""
    except Throttled as throttled:
        return error_payload("Lambda.TooManyRequestsException", str(throttled)).decode(), True, ""
    except RequestTooLarge as too_large:
        return error_payload("Lambda.RequestTooLargeException", str(too_large)).decode(), True, ""
    return payload.decode(), errored, ""


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
            _route(target["Arn"]).runtime.invoke_async(target["Arn"], json.dumps(original_event).encode())
        elif arn.service == "states":
            backend = stepfunctions_backends[arn.account][arn.region]
            backend.start_execution(target["Arn"], name=str(uuid.uuid4()), execution_input=json.dumps(original_event))
        else:
            others.append(target)
    if others:  # moto's own delivery, for the other targets only (on a copy: the rule itself is not changed)
        copy = object.__new__(Rule)
        copy.__dict__.update(self.__dict__, targets=others)
        _original_send_to_targets(copy, original_event, transform_input)


def install() -> None:
    """Replace moto's two methods (idempotent)."""
    LambdaFunction._invoke_lambda = _invoke_lambda
    Rule.send_to_targets = _send_to_targets
