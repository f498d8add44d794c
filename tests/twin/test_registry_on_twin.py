"""The model registry on the twin, with a person approving (ApprovalMode manual): every run registers a version
with its lineage; a run ends awaiting approval and deploys nothing; `dogbreeds approve` releases a version through
SageMaker's state-change event and the pipeline's own Deploy states; `dogbreeds reject` leaves the endpoint as it
was; `dogbreeds rollback` puts the version served before back, and the endpoint answers with its model again.

Stand-in model code (tests/support/fake_model_code): a model answers with the name of the dataset it was trained
on, so an answer tells which version serves (its prediction, not a name read from SageMaker)."""

import json

import pytest
from rich.console import Console

from dogbreeds_cli.cli import main
from model_code import registry
from tests.support.pipeline_steps import plant_stand_in_model_code
from tests.support.twin_runs import run_pipeline
from tests.support.zips import good_zip
from tests.twin.test_state_machine import TEST_PARAMETERS, served_dataset

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from common import sourcedir
    from local_twin.twin import Twin

    parameters = {**TEST_PARAMETERS, "ApprovalMode": "manual"}
    with Twin(workdir=tmp_path_factory.mktemp("registry-twin"), parameters=parameters) as running:
        plant_stand_in_model_code(running, sourcedir)
        yield running


@pytest.fixture(scope="module")
def twin_file(twin, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "up.json"
    path.write_text(json.dumps(twin.connection()))
    return path


@pytest.fixture(scope="module")
def upload(twin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")

    def run(name: str):
        (folder / name).write_bytes(good_zip())
        return run_pipeline(twin, folder / name, name)

    return run


def run_cli(twin_file, *argv) -> tuple[int, str]:
    console = Console(record=True, width=200, force_terminal=False)
    status = main(["--twin", str(twin_file), *map(str, argv)], console=console)
    return status, console.export_text()


def versions(twin) -> dict[int, registry.Version]:
    sagemaker = twin.client("sagemaker")
    group = twin.connection()["model_package_group"]
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelPackageType="Versioned", MaxResults=100)
    return {
        summary["ModelPackageVersion"]: registry.Version.from_described(
            sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        )
        for summary in listed["ModelPackageSummaryList"]
    }


def has_endpoint(twin) -> bool:
    return bool(twin.client("sagemaker").list_endpoints()["Endpoints"])


def test_a_run_ends_awaiting_approval_and_deploys_nothing(twin, upload):
    run = upload("first.zip")
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert "AwaitingApproval" in run.states and "Deploy" not in run.states
    assert not has_endpoint(twin)
    (first,) = versions(twin).values()
    assert first.approval == registry.PENDING
    lineage = first.metadata
    assert lineage[registry.DATASET_URI].endswith("/first.zip") and lineage[registry.DATASET_VERSION]
    assert lineage[registry.RUN_ID] == run.execution["name"]
    for key in (registry.DATASET_FINGERPRINT, registry.TUNING_JOB, registry.BEST_TRIAL, registry.TRAINING_JOB,
                registry.CODE_URI, registry.TEST_ACCURACY):  # fmt: skip
        assert lineage.get(key), key
    assert any(key.startswith(registry.HYPERPARAMETER) for key in lineage)
    (message,) = twin.notifications("ReleaseTopic")
    assert "v1 " in json.loads(message)["message"] and "awaits approval" in json.loads(message)["message"]


def test_approving_a_version_deploys_it(twin, twin_file):
    status, text = run_cli(twin_file, "approve", 1, "--note", "looks right")
    assert status == 0, text
    assert versions(twin)[1].approval == registry.APPROVED
    assert served_dataset(twin) == "first.zip"
    (message,) = twin.notifications("ReleaseTopic")
    assert json.loads(message)["message"].startswith("v1 ") and "is live" in json.loads(message)["message"]


def test_rejecting_a_version_leaves_the_endpoint_as_it_was(twin, twin_file, upload):
    assert upload("second.zip").execution["status"] == "SUCCEEDED"
    twin.notifications("ReleaseTopic")
    known = {execution["executionArn"] for execution in twin.executions()}
    status, text = run_cli(twin_file, "reject", 2, "--reason", "blurry labels")
    assert status == 0, text
    assert versions(twin)[2].approval == registry.REJECTED
    assert {execution["executionArn"] for execution in twin.executions()} == known  # nothing started
    assert served_dataset(twin) == "first.zip"


def test_rollback_serves_the_version_served_before(twin, twin_file, upload):
    assert upload("third.zip").execution["status"] == "SUCCEEDED"
    status, text = run_cli(twin_file, "approve", 3)
    assert status == 0, text
    assert served_dataset(twin) == "third.zip"
    status, text = run_cli(twin_file, "models")
    assert status == 0, text
    assert all(f"{number} " in text or f"v{number}" in text for number in (1, 2, 3))
    status, text = run_cli(twin_file, "rollback")  # default: the version served before the live one
    assert status == 0, text
    assert served_dataset(twin) == "first.zip"  # the first model answers again
    status, text = run_cli(twin_file, "models")
    (live_row,) = [line for line in text.splitlines() if line.rstrip().endswith("live")]
    assert live_row.split()[0] == "v1", text
