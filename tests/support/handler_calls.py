"""Calling the pipeline steps' Lambda handlers in tests, with Stubbed SageMaker and S3 answers."""

import datetime

from tests.support.lambda_context import LambdaContext

ARN = "arn:aws:sagemaker:us-east-1:123456789012:{}/x"


def call(module, event):
    return module.lambda_handler(event, LambdaContext())


def sourcedir_already_uploaded(s3_stub) -> None:
    """The listing StartTuning/StartTraining make finds this code's sourcedir.tar.gz: nothing is uploaded."""
    from common import sourcedir

    content_hash, _ = sourcedir.build_archive()
    s3_stub.add_response("list_objects_v2", {"Contents": [{"Key": f"code/sourcedir-{content_hash}.tar.gz"}]})


def sent_requests(stub, operation: str) -> list[dict]:
    """The parameters of every ``operation`` call the stubbed client makes (after botocore validated them)."""
    sent = []
    service = stub.client.meta.service_model.service_id.hyphenize()  # "sagemaker", "application-auto-scaling"
    stub.client.meta.events.register(
        f"provide-client-params.{service}.{operation}", lambda params, **_: sent.append(params)
    )
    return sent


def described_endpoint(status: str) -> dict:
    now = datetime.datetime.now()
    return {
        "EndpointName": "dogbreeds-endpoint",
        "EndpointArn": ARN.format("endpoint"),
        "EndpointConfigName": "old-config",
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
