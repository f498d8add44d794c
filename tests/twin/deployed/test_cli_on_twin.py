"""`dogbreeds watch`, `runs`, `predict`, `plots` and `monitor` against the running twin, through the file `make up`
writes."""

import base64
import json
import re

import pytest
import requests
from PIL import Image
from rich.console import Console

from dogbreeds_cli.cli import main
from model_code.rule_settings import LOSS_PLOT
from model_code.serving_limits import MAX_BATCH_IMAGES
from tests.support.twin_runs import clear_digit

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


@pytest.fixture(scope="module")
def twin_file(twin, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "up.json"
    path.write_text(json.dumps(twin.connection()))
    return path


def run_cli(*argv) -> tuple[int, str]:
    console = Console(record=True, width=200, force_terminal=False)
    status = main([str(arg) for arg in argv], console=console)
    return status, console.export_text()


def test_watch_shows_each_state_once_in_time_order_and_exits_0(twin_file, first_run, tmp_path):
    name = first_run.execution["name"]
    status, text = run_cli("--twin", twin_file, "watch", name, "--poll", "0.2", "--plots", tmp_path)
    assert status == 0, text
    log = text.split(f"Run {name}")[0]  # the lines printed as states settle, before the final view
    news = ("  trial ", "  Training ")
    state_lines = [line for line in log.splitlines() if line.strip() and not line.startswith(news)]
    names = [line.split()[0] for line in state_lines]
    expected = ["Route", "ValidateDataset", "CheckQuotas", "StartTuning", "WaitForTuning", "CheckTuning"]
    expected += ["TuningDone", "PickBest", "StartTraining", "WaitForTraining", "CheckTraining", "TrainingDone"]
    expected += ["QualityGate", "Register", "Approval", "Deploy", "WaitForEndpoint", "CheckEndpoint", "EndpointDone"]
    expected += ["ScaleEndpoint", "NotifyLive", "Deployed"]
    assert names == expected
    assert all(" SUCCEEDED " in line for line in state_lines)
    assert sum(line.startswith("  trial ") for line in log.splitlines()) == 2  # the local profile's MaxTuningJobs
    assert re.search(r"Quality gate: passed: test accuracy [01]\.\d{4}", text), text
    assert "Endpoint twin-endpoint: InService" in text
    assert f"plots: {tmp_path / 'tuning.png'}, {tmp_path / LOSS_PLOT}" in text
    for picture in ("tuning.png", LOSS_PLOT):
        with Image.open(tmp_path / picture) as image:
            assert image.format == "PNG" and image.size[0] > 400


def test_runs_lists_the_run_with_its_start_and_accuracy(twin_file, first_run):
    status, text = run_cli("--twin", twin_file, "runs")
    assert status == 0
    (row,) = [line for line in text.splitlines() if first_run.execution["name"] in line]
    output = json.loads(first_run.execution["output"])
    started = first_run.execution["startDate"].astimezone().strftime("%m-%d %H:%M")
    assert started in row and "SUCCEEDED" in row and f"{output['gate']['test_accuracy']:.4f}" in row


# The same commands as a user runs them: the `dogbreeds` of a wheel installed in a fresh virtualenv (only the CLI's
# declared dependencies), from another folder, with a clean environment, through the file `make up` writes.


def test_the_installed_command_lists_the_twins_runs(installed_cli, elsewhere, twin_file, first_run):
    result = elsewhere(installed_cli / "dogbreeds", "runs", "--twin", twin_file, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = [line for line in result.stdout.splitlines() if first_run.execution["name"] in line]
    assert "SUCCEEDED" in row and max(len(line) for line in result.stdout.splitlines()) <= 80


def test_the_installed_command_watches_predicts_and_draws(
    installed_cli, elsewhere, twin_file, first_run, digits_dataset, tmp_path
):
    name = first_run.execution["name"]
    watched = elsewhere(installed_cli / "dogbreeds", "--twin", twin_file, "watch", name, "--plots", tmp_path / "plots")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "Endpoint twin-endpoint: InService" in watched.stdout
    for picture in ("tuning.png", LOSS_PLOT):
        with Image.open(tmp_path / "plots" / picture) as image:
            assert image.format == "PNG"
    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    predicted = elsewhere(installed_cli / "dogbreeds", "--twin", twin_file, "predict", sample.path)
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    first_row = next(line for line in predicted.stdout.splitlines() if line.startswith("│"))
    assert first_row.split("│")[1].strip() == sample.label


def test_predict_prints_the_top_labels(twin_file, first_run, digits_dataset):
    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    status, text = run_cli("--twin", twin_file, "predict", sample.path)
    assert status == 0, text
    first_row = next(line for line in text.splitlines() if line.startswith("│"))
    assert first_row.split("│")[1].strip() == sample.label


def test_predict_of_a_non_image_says_why_and_exits_1(twin_file, first_run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("no photo")
    status, text = run_cli("--twin", twin_file, "predict", notes)
    assert status == 1
    assert text.startswith(f"{notes}: 400 ") or text.startswith(f"{notes}: 415 "), text


def test_watch_of_a_failed_run_names_the_state_and_cause_and_exits_1(twin, twin_file, tmp_path):
    from tests.support.twin_runs import run_pipeline

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip archive")
    run = run_pipeline(twin, broken, "broken-for-cli.zip")
    status, text = run_cli("--twin", twin_file, "watch", run.execution["name"], "--poll", "0.2")
    assert status == 1
    assert "Run FAILED in ValidateDataset: " in text


def post_batches(twin_file, images) -> None:
    """The images to the twin's API, eight to a request (its batch limit), as a client would send them."""
    connection = json.loads(twin_file.read_text())
    for first in range(0, len(images), MAX_BATCH_IMAGES):
        batch = [
            base64.b64encode(image.path.read_bytes()).decode() for image in images[first : first + MAX_BATCH_IMAGES]
        ]
        answer = requests.post(connection["api_url"], json={"images": batch}, timeout=60,
                               headers={"x-api-key": connection["api_key"]})  # fmt: skip
        assert answer.status_code == 200, answer.text


def test_monitor_sees_the_test_split_as_stable_and_a_one_digit_stream_as_a_major_shift(
    twin_file, first_run, digits_dataset, tmp_path
):
    """Issue 23's end-to-end check: the API's prediction log against the baseline the deployed model carries."""
    _, held_out = digits_dataset
    post_batches(twin_file, held_out)  # what the model was tested on: the same population
    status, text = run_cli("--twin", twin_file, "monitor", "--hours", "1", "--out", tmp_path / "before")
    assert status == 0, text
    assert "stable" in text.splitlines()[-2], text  # the summary line
    zeros = [image for image in held_out if image.label == "Zero"] * 4  # then only one digit, over and over
    post_batches(twin_file, zeros)
    status, text = run_cli("--twin", twin_file, "monitor", "--hours", "1", "--out", tmp_path / "after")
    print(text)  # what the README shows
    assert status == 1, text
    (breeds,) = [line for line in text.splitlines() if "predicted breeds" in line]
    assert "major shift" in breeds and float(re.search(r"\d+\.\d{3}", breeds).group()) > 0.25, text
    with Image.open(tmp_path / "after" / "monitor.png") as plot:
        assert plot.format == "PNG" and plot.size[0] >= 1000
