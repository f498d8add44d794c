"""The SageMaker endpoint behind the API: one InvokeEndpoint call, and what each failure means to a client."""

import contextlib
import json
import os
from dataclasses import dataclass
from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

# API Gateway gives up after 29 s; answer 504 before that instead of a gateway error.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=25, retries={"max_attempts": 2, "mode": "standard"})
RETRY_AFTER_SECONDS = {429: "1", 503: "60"}


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
    predictions: list
    variant: str | None


def endpoint_name() -> str:
    """Fixed server-side by the template; never taken from the request."""
    name = os.environ.get("ENDPOINT_NAME", "")
    if not name:
        raise EndpointError(503, "the API has no endpoint configured (ENDPOINT_NAME)")
    return name


@cache
def runtime_client():
    return boto3.client("sagemaker-runtime", config=CLIENT_CONFIG)


def _model_error(error: ClientError) -> EndpointError:
    response = error.response
    status = int(response.get("OriginalStatusCode") or 500)
    message = response.get("OriginalMessage") or response["Error"].get("Message", "")
    with contextlib.suppress(ValueError, AttributeError):  # the model's errors: JSON {"message"} or text
        message = json.loads(message).get("message", message)
    if status in (400, 413, 415):
        return EndpointError(status, f"the model refused the image: {message}")
    return EndpointError(502, f"the model failed ({status}): {message}")


def to_endpoint_error(error: Exception) -> EndpointError:
    """Map a runtime failure to the status the client sees (never 500 for a client's mistake)."""
    if isinstance(error, ReadTimeoutError):
        return EndpointError(504, "the endpoint did not answer in time")
    if isinstance(error, ConnectTimeoutError | EndpointConnectionError):
        return EndpointError(503, "the endpoint cannot be reached; try again later")
    code = error.response["Error"].get("Code", "")
    message = error.response["Error"].get("Message", "")
    if code == "ModelError":
        return _model_error(error)
    if code in ("ThrottlingException", "TooManyRequestsException"):
        return EndpointError(429, "too many requests; slow down")
    if code in ("ModelNotReadyException", "ServiceUnavailable"):
        return EndpointError(503, "the model is not ready yet; try again later")
    if code == "ValidationException" and ("not found" in message or "InService" in message or "status" in message):
        return EndpointError(503, "the model is not deployed yet; try again later")
    return EndpointError(502, f"the endpoint call failed: {code}")


def invoke(body: bytes, client=None) -> EndpointAnswer:
    client = client or runtime_client()
    try:
        response = client.invoke_endpoint(
            EndpointName=endpoint_name(), ContentType="application/json", Accept="application/json", Body=body
        )
    except (ClientError, ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError) as error:
        raise to_endpoint_error(error) from error
    try:
        predictions = json.loads(response["Body"].read())["predictions"]
    except (ValueError, KeyError, TypeError) as error:
        raise EndpointError(502, "the endpoint answered something that is not a prediction") from error
    return EndpointAnswer(predictions, response.get("InvokedProductionVariant"))
