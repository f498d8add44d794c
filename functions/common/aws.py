"""boto3 clients for the steps, and the errors Step Functions retries.

botocore retries throttling itself (standard mode); what is still throttled or transient after that is
raised as TransientAwsError, which the state machine retries with backoff. Everything else propagates
with its own class name as the error Step Functions sees.
"""

import contextlib
from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

CLIENT_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "SlowDown",
        "ConcurrentUpdateException",  # Application Auto Scaling: another change to the same target is under way
    }
)


class TransientAwsError(Exception):
    """A throttled or transient AWS call: the state machine retries the step."""


@cache
def client(service: str):
    return boto3.client(service, config=CLIENT_CONFIG)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def create_once(call, **request) -> bool:
    """A SageMaker create call that a retried step may repeat: the resource of the same name is then ours.

    Returns False when it already existed (ResourceInUse for jobs, "already exist" for models/configs).
    """
    try:
        with transient_errors():
            call(**request)
    except ClientError as error:
        message = error.response["Error"].get("Message", "")
        if error_code(error) == "ResourceInUse" or (
            error_code(error) == "ValidationException" and "already exist" in message
        ):
            return False
        raise
    return True


@contextlib.contextmanager
def transient_errors():
    try:
        yield
    except ClientError as error:
        if error_code(error) in TRANSIENT_CODES:
            raise TransientAwsError(f"{error_code(error)}: {error}") from error
        raise
    except (ConnectionError, ReadTimeoutError) as error:
        raise TransientAwsError(str(error)) from error
