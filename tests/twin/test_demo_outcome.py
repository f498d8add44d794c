"""`make demo`'s exit status: 0 only when the run succeeded, the held-out digit is labelled right and the test
accuracy meets AccuracyThreshold. The run is the recorded one (tests/support/recordings/succeeded.json)."""

import json
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from local_twin import demo as demo_module
from tests.support.recordings import recorded

THRESHOLD = 0.9


class FakeTwin:
    """What demo() asks of the twin, with nothing started."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.template = SimpleNamespace(parameters={"AccuracyThreshold": str(THRESHOLD)})
        self.aws = SimpleNamespace(bucket="twin-databucket")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def connection(self) -> dict:
        return {"region": "us-east-1", "endpoints": {}, "state_machine_arn": "arn", "api_url": "u", "api_key": "k"}

    def executions(self):
        return []

    def upload_dataset(self, zip_path):
        return "datasets/digits.zip"

    def wait_for_new_execution(self, known):
        return "arn:execution"


def run_demo_with(monkeypatch, tmp_path, snapshot, label: str) -> tuple[int, str]:
    answer = {"predictions": [{"label": label, "probability": 0.97}], "endpoint": "twin-endpoint"}
    response = SimpleNamespace(status_code=200, json=lambda: answer, text=json.dumps(answer))
    held_out = [SimpleNamespace(path=Path("digit_0010.jpg"), label="Zero")]  # the digits' first test image
    monkeypatch.setattr(demo_module.digits, "write_digits_dataset", lambda root: held_out)
    monkeypatch.setattr(demo_module.digits, "zip_dataset", lambda root, zip_path: zip_path)
    monkeypatch.setattr(demo_module, "watch", lambda *args, **kwargs: snapshot)
    monkeypatch.setattr(demo_module, "post_image", lambda url, key, image: response)
    monkeypatch.setattr(demo_module.plots, "write_run_plots", lambda clients, snapshot, out_dir: [])
    console = Console(record=True, width=160, force_terminal=False)
    status = demo_module.demo(FakeTwin(tmp_path), lambda line: None, console=console)
    return status, console.export_text()


def test_right_and_accurate_exits_0_with_a_summary(monkeypatch, tmp_path):
    status, text = run_demo_with(monkeypatch, tmp_path, recorded("succeeded"), "Zero")
    assert status == 0, text
    assert "make demo: summary" in text and "met)" in text and ", right)" in text


def test_a_wrong_label_exits_1(monkeypatch, tmp_path):
    status, text = run_demo_with(monkeypatch, tmp_path, recorded("succeeded"), "Eight")
    assert status == 1 and "Eight (probability 0.970, WRONG)" in text


def test_an_accuracy_under_the_target_exits_1(monkeypatch, tmp_path):
    snapshot = recorded("succeeded")
    metrics = snapshot.training["FinalMetricDataList"]
    snapshot.training["FinalMetricDataList"] = [
        {**metric, "Value": 0.5} if metric["MetricName"] == "test_accuracy" else metric for metric in metrics
    ]
    status, text = run_demo_with(monkeypatch, tmp_path, snapshot, "Zero")
    assert status == 1 and f"0.5 (target {THRESHOLD}: MISSED)" in text


def test_a_failed_run_exits_1_with_its_cause(monkeypatch, tmp_path):
    status, text = run_demo_with(monkeypatch, tmp_path, recorded("failed"), "Zero")
    assert status == 1 and "InvalidDataset: missing train/" in text
