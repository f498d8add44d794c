"""The real ASL on moto's engine with the real handlers and the twin's local SageMaker, each failure path.

Stand-in model code (tests/pipeline/fake_model_code, seconds per job) replaces model_code/ in the
sourcedir; everything else is the twin as `make demo` runs it. Each failure ends FAILED with its cause,
publishes exactly one notification and creates nothing after the failed step.
"""

import base64
import json
from pathlib import Path

import pytest
import requests

from local_twin.sagemaker import Faults
from tests.twin.conftest import run_pipeline

from .zips import good_zip

FAKE_MODEL_CODE = Path(__file__).with_name("fake_model_code")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from common import sourcedir
    from local_twin.twin import Twin

    faults = Faults()
    with Twin(workdir=tmp_path_factory.mktemp("asl-twin"), faults=faults) as running:
        running.faults = faults
        plant_stand_in_model_code(running, sourcedir)
        yield running
        # moto's state lives in this process: the next twin (tests/twin) must start from nothing
        requests.post(f"{running.moto.url}/moto-api/reset", timeout=10).raise_for_status()


def plant_stand_in_model_code(twin, sourcedir) -> None:
    """The stand-in code stored where the steps look for the real model code's sourcedir.tar.gz.

    The steps upload the archive only when its content-hash key is missing, so they find and use this one.
    """
    real_hash, _ = sourcedir.build_archive(sourcedir.MODEL_CODE_DIR)
    _, stand_in = sourcedir.build_archive(FAKE_MODEL_CODE)
    code_prefix = twin.template.functions()["StartTuningFunction"].environment["CODE_PREFIX"]
    twin.client("s3").put_object(
        Bucket=twin.template.bucket().name, Key=f"{code_prefix}sourcedir-{real_hash}.tar.gz", Body=stand_in
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")
    return lambda name: (folder / name).write_bytes(good_zip()) and folder / name


def sagemaker_names(twin) -> dict[str, set[str]]:
    sagemaker = twin.client("sagemaker")
    return {
        "training": {j["TrainingJobName"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]},
        "endpoints": {(e["EndpointName"], e["EndpointStatus"]) for e in sagemaker.list_endpoints()["Endpoints"]},
    }


def served_dataset(twin) -> str:
    route = twin.template.api().routes[0]
    image = base64.b64decode(
        "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
        "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
    )
    answer = requests.post(f"{twin.api.url}{route.path}", data=image, timeout=30,
                           headers={"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"][0]["label"]


def assert_failed_once(twin, run, state: str, cause: str) -> None:
    assert run.execution["status"] == "FAILED", run.execution
    assert cause in (run.execution.get("cause") or ""), run.execution.get("cause")
    (message,) = twin.notifications()
    published = json.loads(message)
    assert published["failed_state"] == state and cause in published["cause"]


def test_happy_path_ends_with_an_endpoint(twin, dataset):
    run = run_pipeline(twin, dataset("first.zip"), "first.zip")
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert served_dataset(twin) == "first.zip"
    twin.notifications()


def test_tuning_failed(twin, dataset):
    before = sagemaker_names(twin)
    run = run_pipeline(twin, dataset("tuning-fails.zip"), "tuning-fails.zip")
    assert_failed_once(twin, run, "CheckTuning", "All training jobs failed")
    after = sagemaker_names(twin)
    assert not any(name.endswith("-train") for name in after["training"] - before["training"])
    assert after["endpoints"] == before["endpoints"] and served_dataset(twin) == "first.zip"


def test_quality_gate_rejects(twin, dataset):
    before = sagemaker_names(twin)
    run = run_pipeline(twin, dataset("rejected.zip"), "rejected.zip")
    assert_failed_once(twin, run, "QualityGate", "below the threshold")
    assert "Deploy" not in run.states
    assert sagemaker_names(twin)["endpoints"] == before["endpoints"] and served_dataset(twin) == "first.zip"


def test_endpoint_update_failure_keeps_the_old_model(twin, dataset):
    twin.faults.unhealthy_next_update = True
    run = run_pipeline(twin, dataset("second.zip"), "second.zip")
    assert_failed_once(twin, run, "CheckEndpoint", "health check")
    assert served_dataset(twin) == "first.zip"
