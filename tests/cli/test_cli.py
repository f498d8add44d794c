"""The `dogbreeds` command: its entry point, and how it finds a deployed stack (CloudFormation outputs)."""

import argparse
import importlib
import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from rich.console import Console

from dogbreeds_cli import target
from dogbreeds_cli.cli import command_runs, main

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


def test_a_stack_names_its_package_group_and_approval_mode(stubs):
    outputs = [{"OutputKey": key, "OutputValue": value} for key, value in OUTPUTS.items()]
    stack = {"StackName": "dogbreeds", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    stubs["cloudformation"].add_response(
        "describe_stacks", {"Stacks": [{**stack, "Outputs": outputs}]}, {"StackName": "dogbreeds"}
    )  # a stack from before the registry
    older = target.from_stack("dogbreeds", "eu-west-1")
    assert (older.model_package_group, older.approval_mode) == ("", "auto")
    registry_output = {"OutputKey": "ModelPackageGroupName", "OutputValue": "dogbreeds-models"}
    manual = [{"ParameterKey": "ApprovalMode", "ParameterValue": "manual"}]
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {"Stacks": [{**stack, "Outputs": [*outputs, registry_output], "Parameters": manual}]},
        {"StackName": "dogbreeds"},
    )
    where = target.from_stack("dogbreeds", "eu-west-1")
    assert (where.model_package_group, where.approval_mode) == ("dogbreeds-models", "manual")


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


def runs_shown(runs: dict[str, tuple[str, float | None]], width: int = 80) -> list[str]:
    """`dogbreeds runs` of these runs (name -> status, test accuracy), 325 s each, as a terminal shows it."""
    stepfunctions = boto3.client("stepfunctions", region_name="eu-west-1")
    stub = Stubber(stepfunctions)
    started = datetime(2026, 12, 3, 10, 18, tzinfo=UTC)
    stub.add_response(
        "list_executions",
        {"executions": [{"executionArn": f"{STATE_MACHINE}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
                         "status": status, "startDate": started} for name, (status, _) in runs.items()]},
        {"stateMachineArn": STATE_MACHINE, "maxResults": 10},
    )  # fmt: skip
    for name, (status, accuracy) in runs.items():
        output = {"gate": {"test_accuracy": accuracy}} if accuracy else {}
        stub.add_response(
            "describe_execution",
            {"executionArn": f"{STATE_MACHINE}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
             "status": status, "startDate": started, "stopDate": started + timedelta(seconds=325),
             "input": json.dumps({"dataset": {"key": f"datasets/{name.rsplit('-', 1)[0]}.zip"}}),
             "output": json.dumps(output)},
            {"executionArn": f"{STATE_MACHINE}:{name}"},
        )  # fmt: skip
    stub.activate()
    where = target.Target(lambda service: stepfunctions, STATE_MACHINE, OUTPUTS["ApiUrl"], lambda: "key")
    console = Console(record=True, width=width, force_terminal=False)
    assert command_runs(argparse.Namespace(limit=10), where, console) == 0
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    return lines


def test_runs_fit_an_80_column_terminal_one_line_each_with_whole_names():
    runs = {"dogImages-9a8b7c6d5e4f3a2b": ("SUCCEEDED", 0.8731), "digits-2fccab7fc5a1b2c3": ("FAILED", None)}
    lines = runs_shown(runs)
    for name, (status, accuracy) in runs.items():
        (row,) = [line for line in lines if name in line]  # the whole name, on one line
        assert status in row and "325 s" in row
        assert (f"{accuracy:.4f}" in row) if accuracy else row.rstrip().endswith("325 s")


def test_a_very_long_run_name_folds_whole_onto_a_second_line_with_the_rest_kept():
    name = "dogImages-with-a-long-descriptive-name-2026-12-03-9a8b7c6d5e4f3a2b"  # a long dataset name
    lines = runs_shown({name: ("SUCCEEDED", 0.8731)})
    first = next(index for index, line in enumerate(lines) if line.lstrip().startswith(name[:20]))
    folded = [line.split()[0] for line in lines[first : first + 2]]
    assert "".join(folded) == name
    assert "SUCCEEDED" in lines[first] and "0.8731" in lines[first]


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "--twin", "{file}"],  # as the README shows it
        ["--twin", "{file}", "runs"],
        ["--stack", "somewhere", "runs", "--twin", "{file}"],  # said after the command, the twin replaces the stack
    ],
)
def test_the_target_may_be_named_before_or_after_the_command(tmp_path, argv):
    missing = tmp_path / "up.json"
    console = Console(record=True, width=200)
    assert main([part.format(file=missing) for part in argv], console=console) == 2
    assert console.export_text().startswith(f"{missing} does not exist: start the twin with `make up`")
