"""The Predict Lambda as the template configures it: its environment, its context, its events/, and the
sagemaker-runtime client it calls."""

import io
import json
from functools import partial

import boto3
from botocore.stub import Stubber

from tests.support import lambda_context
from tests.support.paths import ROOT

# As the template configures the function; X-Ray off (tests/predict/conftest.py sets it for that folder's tests).
LAMBDA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "dogbreeds",
    "POWERTOOLS_METRICS_NAMESPACE": "DogBreeds",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

EVENTS = ROOT / "events" / "api"
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
