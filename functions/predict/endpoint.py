"""The SageMaker endpoint behind the API: one InvokeEndpoint call, and what each failure means to a client."""

import json
from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from predict import settings
from predict.request import JSON_CONTENT_TYPE, PredictionRequest

# API Gateway (REST) gives up after 29 s and the function after 30 s (template Globals): one attempt of at
# most 2 s to connect and 25 s to read lets this function answer 504 itself first. No automatic retries:
# a retried timeout would overrun both, and a throttled client is told when to retry (429 + Retry-After).
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=25, retries={"mode": "standard", "total_max_attempts": 1})
RETRY_AFTER_SECONDS = {429: "1", 503: "60"}  # endpoints take minutes to reach InService
MODEL_VALIDATION_STATUSES = frozenset({400, 413, 415})  # what model_code/inference.py raises for bad input
MAX_MESSAGE_CHARS = 300


class EndpointError(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        retry_after = RETRY_AFTER_SECONDS.get(self.status_code)
        return {"Retry-After": retry_after} if retry_after else {}


@dataclass(frozen=True)
class EndpointAnswer:
    predictions: list  # one list of {"label", "probability"} per image sent
    variant: str | None


def invoke_endpoint_params(request: PredictionRequest, endpoint_name: str) -> dict:
    """InvokeEndpoint's arguments: always JSON both ways (inference.py's contract)."""
    return {
        "EndpointName": endpoint_name,
        "ContentType": JSON_CONTENT_TYPE,
        "Accept": JSON_CONTENT_TYPE,
        "Body": request.endpoint_body(),
    }


@cache
def runtime_client():
    # botocore's session, not boto3's: boto3 also imports s3transfer, ~80 ms of cold start for nothing here.
    return botocore.session.get_session().create_client("sagemaker-runtime", config=CLIENT_CONFIG)


def _model_message(original: str | None) -> str:
    """The model's own reason: inference errors arrive as JSON {"message": ...} or as plain text."""
    message = original or ""
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        message = parsed["message"]
    return message[:MAX_MESSAGE_CHARS]


def error_for_client(error: ClientError | BotoCoreError) -> EndpointError:
    """What a failed InvokeEndpoint means to the API's client (a client's mistake is never a 5xx)."""
    if isinstance(error, ReadTimeoutError):
        return EndpointError(504, "the model did not answer in time")
    if isinstance(error, BotocoreConnectionError):
        return EndpointError(503, "the model cannot be reached now; try again later")
    if isinstance(error, BotoCoreError):
        return EndpointError(502, f"calling the model failed: {type(error).__name__}")
    response = error.response
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "")
    if code == "ModelError":
        status = response.get("OriginalStatusCode")
        if status in MODEL_VALIDATION_STATUSES:
            reason = _model_message(response.get("OriginalMessage"))
            return EndpointError(status, f"the model refused the input: {reason}")
        return EndpointError(502, f"the model failed (status {status}); see the endpoint's logs")
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return EndpointError(429, "too many requests; slow down and retry")
    if code in ("ModelNotReadyException", "ServiceUnavailable"):
        return EndpointError(503, "the model is not ready yet; try again later")
    # "Endpoint X of account Y not found." while the first deployment runs, or a status other than InService.
    if code == "ValidationException" and ("not found" in message or "status" in message.lower()):
        return EndpointError(503, "the model is not deployed yet; try again later")
    return EndpointError(502, f"calling the model failed: {code or 'unknown error'}")


def _read_predictions(response: dict, images: int) -> list:
    try:
        predictions = json.loads(response["Body"].read())["predictions"]
    except (ValueError, KeyError, TypeError) as error:
        raise EndpointError(502, "the model answered something that is not a prediction") from error
    one_list_per_image = isinstance(predictions, list) and all(isinstance(per_image, list) for per_image in predictions)
    if not one_list_per_image or len(predictions) != images:
        raise EndpointError(502, f"the model answered {type(predictions).__name__}, not one list per image")
    return predictions


def invoke(request: PredictionRequest, client=None) -> EndpointAnswer:
    name = settings.endpoint_name()
    if not name:
        raise EndpointError(503, "the API has no model configured yet (ENDPOINT_NAME); try again later")
    client = client or runtime_client()
    try:
        response = client.invoke_endpoint(**invoke_endpoint_params(request, name))
        predictions = _read_predictions(response, len(request.images))
    except (ClientError, BotoCoreError) as error:
        raise error_for_client(error) from error
    return EndpointAnswer(predictions, response.get("InvokedProductionVariant"))
