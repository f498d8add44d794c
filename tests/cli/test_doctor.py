"""`dogbreeds doctor` (and `make aws-smoke`, which runs it first) against Service Quotas' answers, Stubbed: the
checkout's configuration (template.yaml, a samconfig.toml profile), the quotas it needs, the region, Debugger."""

import re
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from rich.console import Console

from dogbreeds_cli.cli import main
from model_code import quotas
from tests.support.service_quotas import fixed, listing, quota

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["doctor", "--checkout", str(ROOT), "--config-env", "smoke"]  # 2 on-demand ml.m5.large trials, serverless
ENOUGH_DEFAULTS = [
    quota("ml.m5.large for training job usage", 20.0, default=True),
    fixed(quotas.TRAINING_INSTANCES, 20.0, default=True),
    fixed(quotas.TUNING_JOBS_AT_ONCE, 100.0, default=True),
    fixed(quotas.PARALLEL_TRIALS, 10.0, default=True),
    fixed(quotas.TRIALS_PER_TUNING_JOB, 500.0, default=True),
    fixed(quotas.SERVERLESS_ENDPOINTS, 50.0, default=True),
    fixed(quotas.SERVERLESS_CONCURRENCY, 200.0, default=True),
]


@pytest.fixture
def stubs(monkeypatch) -> dict[str, Stubber]:
    """The clients the doctor's session makes, stubbed (any region: it is named on the command)."""
    clients = {
        service: boto3.client(service, region_name="us-east-1") for service in ("service-quotas", "cloudformation")
    }
    stubbers = {service: Stubber(client) for service, client in clients.items()}
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, service, *args, **kwargs: clients[service])
    for stub in stubbers.values():
        stub.activate()
    yield stubbers
    for stub in stubbers.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


@pytest.fixture
def service_quotas(stubs) -> Stubber:
    return stubs["service-quotas"]


def doctor(*arguments: str) -> tuple[int, dict[str, list[str]], str]:
    """The exit status, the table's rows by their check (cells: needed, account, verdict), and the whole output."""
    console = Console(record=True, width=250)  # wide enough that no row folds
    status = main([*SMOKE, *arguments], console=console)
    text = console.export_text()
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if re.search(r"\S\s{2,}\S", line)]
    return status, {row[0]: row[1:] for row in cells}, text


def test_a_new_accounts_quotas_fail_the_doctor_with_how_to_ask(service_quotas):
    listing(
        service_quotas,
        "list_service_quotas",
        [[quota("ml.m5.large for training job usage", 0.0), fixed(quotas.SERVERLESS_CONCURRENCY, 10.0)]],
    )
    listing(service_quotas, "list_aws_default_service_quotas", [ENOUGH_DEFAULTS])
    status, rows, text = doctor("--region", "us-east-1")
    assert status == 1, text
    assert text.startswith("Can this account run the stack? us-east-1, template.yaml with samconfig.toml [smoke]")
    assert rows["the template's Rules (region, parameters)"] == ["all pass", "us-east-1", "ok"]
    assert rows["ml.m5.large for training job usage (L-611FA074)"] == ["2", "0", "TOO LOW"]
    assert rows["Number of instances across all training jobs (L-00C91CB5)"] == ["2", "20 (default)", "ok"]
    assert rows[f"{quotas.SERVERLESS_CONCURRENCY.name} (L-96300102)"] == ["2", "10", "ok"]
    assert rows[quotas.SERVERLESS_MEMORY.name] == ["3072", "could not be read", "unread"]  # a warning only
    advice = [line for line in text.splitlines() if line.startswith(("TOO LOW:", "unread:"))]
    assert advice == [
        "TOO LOW: 'ml.m5.large for training job usage' (L-611FA074) is 0 in us-east-1; this stack needs 2 "
        "(MaxParallelTuningJobs=2 trials at once, then the final job). Request an increase: "
        "https://us-east-1.console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas/L-611FA074 or "
        "`aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code L-611FA074 "
        "--desired-value 2 --region us-east-1`",
        "unread: 'Memory size in MB per serverless endpoint' could not be read: Service Quotas does not list it for "
        "this account and region. SageMaker enforces it all the same; this stack needs 3072 "
        "(ServerlessMemorySizeMB=3072).",
    ]
    assert text.rstrip().endswith("A run would fail: fix the lines above before you upload a dataset.")


def test_enough_quotas_pass_and_the_debugger_choice_is_a_warning(service_quotas):
    listing(service_quotas, "list_service_quotas", [[]])
    listing(service_quotas, "list_aws_default_service_quotas", [ENOUGH_DEFAULTS])
    status, rows, text = doctor("--region", "us-east-1", "--parameter-overrides", "DebuggerService=true")
    assert status == 0, text
    assert rows["DebuggerService=true"] == ["Debugger before 2026-07-30", "unknown", "warning"]
    assert "warning: DebuggerService=true needs an account that had SageMaker Debugger before it closed" in text
    assert text.rstrip().endswith("Nothing stops a run here.")


def test_a_region_without_the_pipelines_images_is_refused_as_sam_deploy_would(service_quotas):
    listing(service_quotas, "list_service_quotas", [[]])
    listing(service_quotas, "list_aws_default_service_quotas", [ENOUGH_DEFAULTS])
    status, rows, text = doctor("--region", "us-gov-west-1")  # outside the commercial partition the images cover
    assert status == 1, text
    assert rows["the template's Rules (region, parameters)"] == ["all pass", "us-gov-west-1", "REFUSED"]
    assert "REFUSED: SupportedRegion: This region lacks the PyTorch 2.6 training or inference images" in text


def test_a_deployed_stack_is_checked_with_its_own_parameters(stubs):
    parameters = {"TuningInstanceType": "ml.g4dn.xlarge", "TrainingInstanceType": "ml.g4dn.xlarge",
                  "EndpointInstanceType": "ml.m5.large", "MaxTuningJobs": "4", "MaxParallelTuningJobs": "1",
                  "UseSpotInstances": "false", "ServerlessInference": "true", "ServerlessMemorySizeMB": "2048",
                  "ServerlessMaxConcurrency": "2", "DebuggerService": "false"}  # fmt: skip
    stack = {"StackName": "dogbreeds", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stack["Parameters"] = [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
    stubs["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "dogbreeds"})
    gpu = quota("ml.g4dn.xlarge for training job usage", 0.0, code="L-3F53BF0F")
    listing(stubs["service-quotas"], "list_service_quotas", [[gpu]])
    listing(stubs["service-quotas"], "list_aws_default_service_quotas", [ENOUGH_DEFAULTS])
    console = Console(record=True, width=250)
    assert main(["--stack", "dogbreeds", "doctor", "--region", "us-east-1"], console=console) == 1
    text = console.export_text()
    assert text.startswith("Can this account run the stack? us-east-1, stack dogbreeds")
    assert "TOO LOW: 'ml.g4dn.xlarge for training job usage' (L-3F53BF0F) is 0 in us-east-1" in text
    assert "template's Rules" not in text  # a deployed stack passed them already


def test_a_bad_parameter_override_is_said_in_words():
    console = Console(record=True, width=200)
    assert main([*SMOKE, "--region", "us-east-1", "--parameter-overrides", "NoSuchParameter=1"], console=console) == 2
    assert "parameter overrides ['NoSuchParameter'] are not declared in the template" in console.export_text()


def test_make_aws_smoke_runs_the_doctor_first_and_deploys_nothing_when_it_fails(service_quotas, monkeypatch):
    from scripts import aws_smoke

    listing(service_quotas, "list_service_quotas", [[quota("ml.m5.large for training job usage", 1.0)]])
    listing(service_quotas, "list_aws_default_service_quotas", [ENOUGH_DEFAULTS])
    monkeypatch.setattr(aws_smoke, "SamStack", lambda *args: pytest.fail("deployed despite the doctor's refusal"))
    assert aws_smoke.main(["--region", "us-east-1"]) == 1
