"""Tuning that learns from earlier runs, on the twin: a second run's tuning job warm-starts from the first.

Its own twin with the cheapest tuning (one trial of one epoch): the test needs the first run's tuning job
Completed and the second's created, not the rest of either run (the twin stops them at the end).
"""

import time

import pytest

from common import naming

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


@pytest.fixture(scope="module")
def cheap_twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("warm-twin"), parameters={"Epochs": "1", "MaxTuningJobs": "1"}) as twin:
        yield twin


def start_run(twin, zip_path, name: str) -> str:
    """Upload, and the name of the tuning job the run starts (the execution's name is the run id)."""
    known = {execution["executionArn"] for execution in twin.executions()}
    twin.upload_dataset(zip_path, name)
    run_id = twin.wait_for_new_execution(known).rsplit(":", 1)[1]
    return naming.tuning_job_name(twin.template.parameters["SageMakerNamePrefix"], run_id)


def wait_for_tuning(twin, name: str, done: bool, timeout: float = 1800) -> dict:
    sagemaker, deadline = twin.client("sagemaker"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except sagemaker.exceptions.ResourceNotFound:
            described = None
        if described and (not done or described["HyperParameterTuningJobStatus"] != "InProgress"):
            return described
        time.sleep(2)
    raise AssertionError(f"tuning job {name} did not {'end' if done else 'start'} in {timeout} s")


def test_a_second_run_names_the_first_as_parent_and_starts_from_its_best(cheap_twin, digits_zip):
    first = start_run(cheap_twin, digits_zip, "digits.zip")
    earlier = wait_for_tuning(cheap_twin, first, done=True)
    assert earlier["HyperParameterTuningJobStatus"] == "Completed", earlier.get("FailureReason")

    second = start_run(cheap_twin, digits_zip, "digits-again.zip")  # the same images, the same code
    warm_start = wait_for_tuning(cheap_twin, second, done=False)["WarmStartConfig"]
    assert warm_start == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": first}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }

    job = cheap_twin.sagemaker.tuning.get(second)
    deadline = time.monotonic() + 60
    while job.study is None and time.monotonic() < deadline:  # the job's thread makes its study first
        time.sleep(0.5)
    seeded = job.study.trials[0]  # the search's history before its first own trial: the earlier best
    best = earlier["BestTrainingJob"]
    assert seeded.value == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert same_values(seeded.params, best["TunedHyperParameters"]), (seeded.params, best)


def same_values(params: dict, tuned: dict[str, str]) -> bool:
    """optuna's typed values against SageMaker's strings (floats as written, categories as they are)."""
    return params.keys() == tuned.keys() and all(
        str(params[name]) == text or float(params[name]) == float(text) for name, text in tuned.items()
    )
