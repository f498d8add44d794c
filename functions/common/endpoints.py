"""The stack's endpoint as SageMaker describes it (Deploy and ScaleEndpoint read it; a module of its own, so that the
least-privilege scan asks DescribeEndpoint of those two functions only)."""

from botocore.exceptions import ClientError

from common.aws import error_code, transient_errors


def described_endpoint(sagemaker, name: str) -> dict | None:
    """DescribeEndpoint's answer, or None when the endpoint does not exist (SageMaker's ValidationException)."""
    try:
        with transient_errors():
            return sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if error_code(error) == "ValidationException":
            return None
        raise
