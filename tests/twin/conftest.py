"""A running twin per test module that needs one: its pipeline tests share it (each run uploads its own key)."""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_twin.digits import zip_dataset


@dataclass(frozen=True)
class PipelineRun:
    key: str
    execution: dict  # describe_execution's answer once it ended
    states: dict[str, str]  # state name -> last status


def run_pipeline(twin, zip_path: Path, name: str, timeout: float = 1200) -> PipelineRun:
    """Upload ``zip_path`` as ``<upload prefix><name>`` and follow the execution it starts to its end."""
    known = {execution["executionArn"] for execution in twin.executions()}
    key = twin.upload_dataset(zip_path, name)
    execution_arn = twin.wait_for_new_execution(known)
    states = {}
    description = twin.follow(execution_arn, lambda progress: states.update({progress.name: progress.status}), timeout)
    return PipelineRun(key, description, states)


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


class ApiProbe:
    """Posts one image to the API in a loop, recording (status code, endpoint status at that moment)."""

    def __init__(self, post, endpoint_status):
        self.post, self.endpoint_status = post, endpoint_status
        self.answers: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            status_before = self.endpoint_status()
            self.answers.append((self.post(), status_before))
            time.sleep(0.3)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=30)
