"""The Predict Lambda under test: its events, its handler, and the sagemaker-runtime client it uses."""

import io
import json
from functools import partial
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests import lambda_context

# As the template configures the function; X-Ray off. Set for this package's tests only.
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "predict",
    "POWERTOOLS_METRICS_NAMESPACE": "DogBreedPipeline",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(scope="package", autouse=True)
def lambda_environment():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LAMBDA_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"
ENDPOINT = "dog-breeds"


LambdaContext = partial(lambda_context.LambdaContext, "PredictFunction", 512)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def with_headers(event: dict, headers: dict[str, str]) -> dict:
    """The event as API Gateway would build it for these request headers (both header maps)."""
    return event | {"headers": headers, "multiValueHeaders": {name: [value] for name, value in headers.items()}}


def stubbed_runtime() -> tuple:
    """A real sagemaker-runtime client whose requests botocore checks against the service model."""
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    return client, Stubber(client)


def endpoint_reply(predictions: list) -> dict:
    return {
        "Body": io.BytesIO(json.dumps({"predictions": predictions}).encode()),
        "ContentType": "application/json",
        "InvokedProductionVariant": "AllTraffic",
    }


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


@pytest.fixture
def runtime(monkeypatch):
    """Install a sagemaker-runtime client (a Stubber's or a fake) for the handler to use."""
    from predict import endpoint

    monkeypatch.setattr(endpoint.ColdStartMemory, "until", 0.0)  # each test starts in a fresh environment

    def use(client):
        monkeypatch.setattr(endpoint, "runtime_client", lambda: client)
        return client

    return use
