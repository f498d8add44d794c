"""The SageMaker endpoint behind the API: one InvokeEndpoint call, and what each failure means to a client.

Timeouts, against the limits around this call: REST API Gateway gives up on its integration after 29 s and the
function's Timeout is 30 s (template Globals; a test keeps it at 29 or more). One attempt of at most 2 s to connect
and 10 s to read: a warm model answers a batch in a second or two (docs/benchmarks.md), and every second waited
holds one of the account's concurrent executions, 10 in all on a new account, shared with the pipeline. No
automatic retries: a retried timeout would overrun both. A serverless endpoint's cold start can take minutes
(AWS gives the container 3 to pass /ping), far beyond that budget: a call caught by one gets
ModelNotReadyException or times out reading, and the client is told 503, warming up, with Retry-After. For a while
after that, this execution environment answers the same without calling, so a burst during a cold start does not
hold (and exhaust) the account's concurrency, which would turn it into API Gateway's 500s.

Clients get one clean line: the model's own message without traceback or paths; the whole error goes to the
function's log, with the request ids Powertools adds. What InvokeEndpoint's ModelError carries is what the
image's TorchServe answered (OriginalStatusCode, OriginalMessage = its whole body): for inference.py's
InferenceError its status and the toolkit's "message\ntraceback"; for any other exception 500 and the same; for
a worker that died TorchServe's own JSON ``{"code": 500, "type": "InternalServerException", "message": "Worker
died."}``; for a body over TorchServe's limit 413 and an empty body. A container that does not answer in 60 s is
status 0 with SageMaker's own "Your invocation timed out ..." (local_twin/sagemaker/endpoints.py reproduces them).
"""

import json
import re
import time
from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from predict import settings
from predict.request import ENDPOINT_BODY_LIMIT_BYTES, PredictionRequest

API_GATEWAY_TIMEOUT_SECONDS = 29
CONNECT_TIMEOUT_SECONDS = 2
ANSWER_MARGIN_SECONDS = 2  # to log, count and answer before API Gateway gives up
READ_TIMEOUT_SECONDS = 10
CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": 1},
)
RETRY_AFTER_SECONDS = {429: "1", 503: "60"}  # endpoints take minutes to reach InService
WARMING_UP_RETRY_AFTER = "30"  # a cold start takes seconds to minutes: asking again at once would meet it again
WARMING_UP_REMEMBERED_SECONDS = 10.0  # answered without calling the endpoint, once this environment met a cold start
WARMING_UP_CAUSE, THROTTLED_CAUSE = "WarmingUp", "Throttled"  # the causes the metrics count on their own
WARMING_UP = "the model is warming up (a serverless endpoint starts after being idle); retry after Retry-After seconds"
MODEL_VALIDATION_STATUSES = frozenset({400, 413, 415})  # what model_code/inference.py raises for bad input
MAX_MESSAGE_CHARS = 300
# Named in full: the endpoint may refuse while a deployment changes its type, so this function's own belief
# (settings.serverless_endpoint) would not say which limit it met.
ENDPOINT_LIMITS_TEXT = (
    f"SageMaker takes at most {ENDPOINT_BODY_LIMIT_BYTES[True]} bytes per call on a serverless endpoint, "
    f"{ENDPOINT_BODY_LIMIT_BYTES[False]} on an instance one"
)
# Container paths (/opt/ml/model/code/inference.py) say nothing to a client and show our layout.
PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-]+){2,}")


class EndpointError(Exception):
    """A failed call as the client sees it (status, one clean line); ``cause`` names it for the metrics (a
    CloudWatch dimension: a few fixed values); ``detail`` is the whole story, for the log."""

    def __init__(
        self, status_code: int, message: str, cause: str, retry_after: str | None = None, detail: str | None = None
    ):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.cause = cause
        self.retry_after = retry_after or RETRY_AFTER_SECONDS.get(status_code)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after} if self.retry_after else {}


@dataclass(frozen=True)
class EndpointAnswer:
    predictions: list  # one list of {"label", "probability"} per image sent
    variant: str | None
    model: str | None = None  # the training job that made the model, when the model says (inference.py)


def invoke_endpoint_params(request: PredictionRequest, endpoint_name: str) -> dict:
    """InvokeEndpoint's arguments: one image raw, a batch as JSON; the answer is always JSON."""
    content_type, body = request.endpoint_payload()
    return {"EndpointName": endpoint_name, "ContentType": content_type, "Accept": "application/json", "Body": body}


@cache
def runtime_client():
    # botocore's session, not boto3's: boto3 also imports s3transfer, ~80 ms of cold start for nothing here.
    return botocore.session.get_session().create_client("sagemaker-runtime", config=CLIENT_CONFIG)


def clean_model_message(original: str | None) -> str:
    """The model's own reason in one line: inference errors arrive as the toolkit's "message\ntraceback",
    as JSON {"message": ...} or as plain text; paths are blanked out."""
    message = original or ""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        message = parsed["message"]
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return PATH.sub("<path>", first_line)[:MAX_MESSAGE_CHARS]


def error_for_client(error: ClientError | BotoCoreError) -> EndpointError:
    """What a failed InvokeEndpoint means to the API's client (a client's mistake is never a 5xx)."""
    if isinstance(error, ReadTimeoutError):
        return EndpointError(503, WARMING_UP, WARMING_UP_CAUSE, WARMING_UP_RETRY_AFTER, detail=str(error))
    if isinstance(error, BotocoreConnectionError):
        return EndpointError(503, "the model cannot be reached now; try again later", "Unreachable", detail=str(error))
    if isinstance(error, BotoCoreError):
        return EndpointError(502, f"calling the model failed: {type(error).__name__}", "CallFailed", detail=str(error))
    response = error.response
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "")
    detail = f"{code}: {message}"
    if code == "ModelError":
        status = response.get("OriginalStatusCode")
        detail += f" (original status {status}: {response.get('OriginalMessage')})"
        if status in MODEL_VALIDATION_STATUSES:
            reason = clean_model_message(response.get("OriginalMessage"))
            refusal = f"the model refused the input: {reason}" if reason else f"the model refused the input ({status})"
            return EndpointError(status, refusal, "ModelRefused", detail=detail)
        if status == 0:  # SageMaker's own: the container did not answer within its 60 s
            return EndpointError(
                504, "the model did not answer in time; try again later", "ModelTimeout", detail=detail
            )
        return EndpointError(
            502, f"the model failed (status {status}); see the endpoint's logs", "ModelFailed", detail=detail
        )
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return EndpointError(429, "too many requests; slow down and retry", THROTTLED_CAUSE, detail=detail)
    if code == "ModelNotReadyException":
        return EndpointError(503, WARMING_UP, WARMING_UP_CAUSE, WARMING_UP_RETRY_AFTER, detail=detail)
    if code == "ServiceUnavailable":
        return EndpointError(503, "the model is not ready yet; try again later", "NotReady", detail=detail)
    # InvokeEndpoint's code is ValidationError (botocore's model); ValidationException is SageMaker's elsewhere.
    if code in ("ValidationError", "ValidationException"):
        if "oversize body" in message:  # "Request <id> has oversize body."
            return EndpointError(
                413, f"request too large for the model: {ENDPOINT_LIMITS_TEXT}", "TooLarge", detail=detail
            )
        # "Endpoint X of account Y not found." while the first deployment runs, or a status other than InService.
        if "not found" in message or "status" in message.lower():
            return EndpointError(503, "the model is not deployed yet; try again later", "NotDeployed", detail=detail)
    return EndpointError(502, f"calling the model failed: {code or 'unknown error'}", "CallFailed", detail=detail)


def ranking(per_image) -> bool:
    """A non-empty list of {"label": str, "probability": number}, most likely first (what inference.py answers)."""
    return (
        isinstance(per_image, list)
        and bool(per_image)
        and all(
            isinstance(entry, dict)
            and isinstance(entry.get("label"), str)
            and isinstance(entry.get("probability"), int | float)
            for entry in per_image
        )
    )


def _read_predictions(response: dict, request: PredictionRequest) -> tuple[list, str | None]:
    """One ranked list per image, each cut to the request's top_k (a raw image is answered with more), and the
    model's version when it names one."""
    try:
        answer = json.loads(response["Body"].read())
        predictions = answer["predictions"]
        model = answer.get("model") if isinstance(answer.get("model"), str) else None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise EndpointError(502, "the model answered something that is not a prediction", "BadAnswer") from error
    if not request.batch and isinstance(predictions, list) and all(isinstance(p, dict) for p in predictions):
        predictions = [predictions]  # a raw image's answer is that image's ranking
    one_list_per_image = isinstance(predictions, list) and all(ranking(per_image) for per_image in predictions)
    if not one_list_per_image or len(predictions) != len(request.images):
        raise EndpointError(
            502, f"the model answered {type(predictions).__name__}, not one list per image", "BadAnswer"
        )
    return [per_image[: request.top_k] for per_image in predictions], model


class ColdStartMemory:
    """When this execution environment last met the endpoint warming up: until ``until`` (monotonic seconds) it
    answers 503 without calling, instead of holding a concurrent execution for the read timeout each time."""

    until = 0.0

    @classmethod
    def remember(cls) -> None:
        cls.until = time.monotonic() + WARMING_UP_REMEMBERED_SECONDS

    @classmethod
    def warming_up(cls) -> bool:
        return time.monotonic() < cls.until


def invoke(request: PredictionRequest, client=None) -> EndpointAnswer:
    name = settings.endpoint_name()
    if not name:
        raise EndpointError(
            503, "the API has no model configured yet (ENDPOINT_NAME); try again later", "NotConfigured"
        )
    if ColdStartMemory.warming_up():
        raise EndpointError(
            503, WARMING_UP, WARMING_UP_CAUSE, WARMING_UP_RETRY_AFTER, detail="a cold start met moments ago"
        )
    client = client or runtime_client()
    try:
        response = client.invoke_endpoint(**invoke_endpoint_params(request, name))
        predictions, model = _read_predictions(response, request)
    except (ClientError, BotoCoreError) as error:
        failure = error_for_client(error)
        if failure.cause == WARMING_UP_CAUSE:
            ColdStartMemory.remember()
        raise failure from error
    return EndpointAnswer(predictions, response.get("InvokedProductionVariant"), model)
