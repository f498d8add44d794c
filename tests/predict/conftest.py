"""The Predict Lambda under test: its environment, its handler, and the sagemaker-runtime client it uses."""

import json

import pytest

from tests.support.predict_lambda import ENDPOINT, LAMBDA_ENVIRONMENT, LambdaContext


@pytest.fixture(scope="package", autouse=True)
def lambda_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LAMBDA_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def handler(monkeypatch):
    """Call the real handler; returns (status, headers, json body)."""
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    from predict import app

    def call(event: dict):
        response = app.lambda_handler(event, LambdaContext())
        headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
        headers |= response.get("headers") or {}
        return response["statusCode"], headers, json.loads(response["body"])

    return call


class RecordingS3:
    """The prediction log's bucket: every put_object kept (botocore checks nothing here: the S3 model's shapes are
    checked by the twin's run, tests/twin/deployed)."""

    def __init__(self):
        self.objects: dict[str, dict] = {}

    def put_object(self, Bucket, Key, Body, ContentType):
        self.objects[Key] = {"Bucket": Bucket, "Body": Body, "ContentType": ContentType}


@pytest.fixture(autouse=True)
def prediction_log_bucket(monkeypatch) -> RecordingS3:
    """Where the handler's sampled requests go (no test reaches S3)."""
    from predict import prediction_log

    bucket = RecordingS3()
    monkeypatch.setattr(prediction_log, "s3_client", lambda: bucket)
    monkeypatch.setenv("BUCKET_NAME", "dogbreeds-data")
    monkeypatch.setenv("PREDICTIONS_PREFIX", "predictions/")
    return bucket


@pytest.fixture
def runtime(monkeypatch):
    """Install a sagemaker-runtime client (a Stubber's or a fake) for the handler to use."""
    from predict import endpoint

    monkeypatch.setattr(endpoint.ColdStartMemory, "until", 0.0)  # each test starts in a fresh environment

    def use(client):
        monkeypatch.setattr(endpoint, "runtime_client", lambda: client)
        return client

    return use
