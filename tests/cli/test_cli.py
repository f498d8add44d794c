"""The `dogbreeds` command: its entry point, and how it finds a deployed stack (CloudFormation outputs)."""

import importlib
import tomllib
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from rich.console import Console

from dogbreeds_cli import target
from dogbreeds_cli.cli import main

ROOT = Path(__file__).resolve().parents[2]
STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:dogbreeds-pipeline"
OUTPUTS = {
    "StateMachineArn": STATE_MACHINE,
    "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/prod/predict",
    "ApiKeyId": "key-id-1",
}


def test_the_console_script_names_the_cli_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["dogbreeds"].partition(":")
    assert getattr(importlib.import_module(module), function) is main


@pytest.fixture
def stubs(monkeypatch) -> dict[str, Stubber]:
    """CloudFormation and API Gateway stubbed, for the clients from_stack's session makes."""
    clients = {service: boto3.client(service, region_name="eu-west-1") for service in ("cloudformation", "apigateway")}
    stubbers = {service: Stubber(client) for service, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, service, *args, **kwargs: clients[service])
    return stubbers


def test_a_stack_is_found_by_its_outputs_and_the_key_read_only_when_needed(stubs):
    outputs = [{"OutputKey": key, "OutputValue": value} for key, value in OUTPUTS.items()]
    stack = {"StackName": "dogbreeds", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    stubs["cloudformation"].add_response(
        "describe_stacks", {"Stacks": [{**stack, "Outputs": outputs}]}, {"StackName": "dogbreeds"}
    )
    where = target.from_stack("dogbreeds", "eu-west-1")
    assert (where.state_machine_arn, where.api_url) == (STATE_MACHINE, OUTPUTS["ApiUrl"])
    stubs["apigateway"].add_response(
        "get_api_key", {"id": "key-id-1", "value": "the-key"}, {"apiKey": "key-id-1", "includeValue": True}
    )
    assert where.api_key() == "the-key"
    assert where.execution_arn("run-1") == "arn:aws:states:eu-west-1:123456789012:execution:dogbreeds-pipeline:run-1"
    assert where.execution_arn(f"{STATE_MACHINE}:x") == f"{STATE_MACHINE}:x"  # an ARN is taken as it is


def test_a_stack_without_the_outputs_is_refused_in_words(stubs):
    stack = {"StackName": "other", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stubs["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "other"})
    console = Console(record=True, width=200)
    assert main(["--stack", "other", "runs"], console=console) == 2
    assert console.export_text().strip() == (
        "stack other has no output ApiKeyId, ApiUrl, StateMachineArn: is it this project's stack?"
    )


def test_without_a_twin_file_the_cli_says_how_to_start_one(tmp_path):
    console = Console(record=True, width=200)
    assert main(["--twin", str(tmp_path / "up.json"), "watch"], console=console) == 2
    assert console.export_text().strip() == (
        f"{tmp_path / 'up.json'} does not exist: start the twin with `make up` (or name a stack with --stack)"
    )
