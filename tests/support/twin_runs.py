"""Running the whole twin in tests: a pipeline run followed to its end, the API posted to, a probe that keeps
posting while something changes."""

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

JSON = "application/json"


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


class ApiProbe:
    """Posts one image to the API in a loop, recording (status code, endpoint status at that moment): every 0.3 s
    while the endpoint changes, every ``steady_seconds`` while it is InService (a prediction costs CPU the run's
    own training needs; the endpoint's status, asked every 0.3 s, is cheap)."""

    def __init__(self, post, endpoint_status, steady_seconds: float = 5.0):
        self.post, self.endpoint_status = post, endpoint_status
        self.steady_seconds = steady_seconds
        self.answers: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        posted = float("-inf")
        while not self._stop.is_set():
            status_before = self.endpoint_status()
            if status_before != "InService" or time.monotonic() - posted >= self.steady_seconds:
                self.answers.append((self.post(), status_before))
                posted = time.monotonic()
            time.sleep(0.3)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class Api:
    url: str
    key: str
    endpoint: str
    session: requests.Session

    def post(self, body: bytes, content_type: str | None, top_k: str | None = None):
        headers = {"x-api-key": self.key}
        if content_type is not None:
            headers["Content-Type"] = content_type
        params = {"top_k": top_k} if top_k is not None else None
        return self.session.post(self.url, data=body, headers=headers, params=params, timeout=60)


def answer_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"] == JSON, response.headers
    return response.json()


def clear_digit(held_out, label: str = "Zero"):
    return next(image for image in held_out if image.label == label)
