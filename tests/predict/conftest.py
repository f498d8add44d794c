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


@pytest.fixture
def runtime(monkeypatch):
    """Install a sagemaker-runtime client (a Stubber's or a fake) for the handler to use."""
    from predict import endpoint

    monkeypatch.setattr(endpoint.ColdStartMemory, "until", 0.0)  # each test starts in a fresh environment

    def use(client):
        monkeypatch.setattr(endpoint, "runtime_client", lambda: client)
        return client

    return use
