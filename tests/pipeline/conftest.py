"""Pipeline steps under test: the template's environment for each function, Stubbed clients."""

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.pipeline_steps import ENVIRONMENT


@pytest.fixture
def environment(monkeypatch):
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    # Powertools reads the namespace and service when common.powertools is first imported; another test may have
    # imported it without this environment (a Lambda never does), so give them as a cold start would read them.
    from common import powertools

    monkeypatch.setattr(powertools.metrics, "namespace", ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setattr(powertools.metrics, "service", ENVIRONMENT["POWERTOOLS_SERVICE_NAME"])
    return ENVIRONMENT


@pytest.fixture
def stubbed(monkeypatch, environment):
    """``stubbed("sagemaker")`` -> a Stubber whose client the steps' common.aws.client() returns."""
    from common import aws

    stubs = {}

    def make(service: str) -> Stubber:
        if service not in stubs:
            stubs[service] = Stubber(boto3.client(service, region_name="us-east-1"))
            stubs[service].activate()
        return stubs[service]

    monkeypatch.setattr(aws, "client", lambda service: make(service).client)
    yield make
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()
