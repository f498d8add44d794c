"""A running twin per test module that needs one: its pipeline tests share it (each run uploads its own key)."""

from pathlib import Path

import pytest

from local_twin.digits import zip_dataset
from tests.support.twin_runs import PipelineRun, run_pipeline


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A twin per test module: moto's state is process-wide, so no two twins (nor a twin and another module's
    moto stack) may be alive at once; each stops, and clears moto, before the next module starts its own."""
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("twin")) as running:
        yield running


@pytest.fixture(scope="session")
def digits_zip(digits_dataset, tmp_path_factory) -> Path:
    root, _ = digits_dataset
    return zip_dataset(root, tmp_path_factory.mktemp("upload") / "digits.zip")


@pytest.fixture(scope="module")
def first_run(twin, digits_zip) -> PipelineRun:
    """The first successful pipeline run: creates the endpoint the other tests see."""
    return run_pipeline(twin, digits_zip, "digits.zip")
