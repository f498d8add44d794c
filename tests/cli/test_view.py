"""`dogbreeds watch`'s view of recorded runs (snapshots recorded on the twin by dogbreeds_cli.snapshot.collect;
event inputs, outputs but the latest, and Lambda stack traces left out to keep them small)."""

from pathlib import Path

import pytest
from rich.console import Console

from dogbreeds_cli.snapshot import RunSnapshot
from dogbreeds_cli.view import render
from dogbreeds_cli.watch import news

RECORDINGS = Path(__file__).parent / "recordings"


def recorded(name: str) -> RunSnapshot:
    return RunSnapshot.from_json((RECORDINGS / f"{name}.json").read_text())


def shown(snapshot: RunSnapshot) -> list[str]:
    console = Console(width=100, record=True, force_terminal=False)
    console.print(render(snapshot))
    return [line.rstrip() for line in console.export_text().splitlines()]


def state_rows(lines: list[str]) -> list[list[str]]:
    """The states table's rows as cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│ ")]


def test_a_failed_run_names_the_failed_state_and_its_cause():
    lines = shown(recorded("failed"))
    assert lines[0] == "Run notes-29ee130072f4a5ab  dataset s3://twin-databucket/datasets/notes.zip  FAILED  0.9 s"
    assert state_rows(lines) == [
        ["ValidateDataset", "FAILED", "0.2 s", "1"],
        ["ValidateDatasetFailed", "SUCCEEDED", "0.0 s", "1"],
        ["NotifyFailure", "SUCCEEDED", "0.1 s", "1"],
        ["PipelineFailed", "FAILED", "0.0 s", "1"],
    ]
    assert " ".join(lines[-2:]) == (
        "Run FAILED in ValidateDataset: InvalidDataset: missing train/, valid/ or test/ folder (optionally "
        "inside one wrapper folder)"
    )
    assert not any(line.startswith(("Tuning", "Training", "Quality gate", "Endpoint")) for line in lines)


def test_mid_tuning_shows_the_poll_loop_once_and_the_trials_with_the_best_so_far():
    lines = shown(recorded("mid_tuning"))
    assert lines[0] == "Run digits-af142988474415ee  dataset s3://twin-databucket/datasets/digits.zip  RUNNING  655.4 s"
    rows = state_rows(lines)
    assert rows[:5] == [
        ["ValidateDataset", "SUCCEEDED", "0.1 s", "1"],
        ["StartTuning", "SUCCEEDED", "0.2 s", "1"],
        ["WaitForTuning", "RUNNING", "625.3 s", "125"],
        ["CheckTuning", "SUCCEEDED", "29.7 s", "124"],
        ["TuningDone", "SUCCEEDED", "0.1 s", "124"],
    ]
    tuning = next(line for line in lines if line.startswith("Tuning "))
    assert tuning == "Tuning twin-6791b6d4ce-hpo: InProgress, 0/2 trials done, best valid_accuracy so far 0.8963"
    assert rows[5] == ["twin-6791b6d4ce-hpo-001-9b6b7a19", "InProgress", "0.00365", "64", "0.8963", "★"]
    assert not any(line.startswith(("Training", "Quality gate", "Endpoint", "Run FAILED")) for line in lines)


def test_the_log_tells_each_ended_trial_once():
    snapshot = recorded("mid_tuning")
    told: set = set()
    assert news(snapshot, told) == []  # the only trial is still running
    snapshot.trials[0] = {**snapshot.trials[0], "TrainingJobStatus": "Completed"}
    (line,) = news(snapshot, told)
    assert line.plain == (
        "  trial twin-6791b6d4ce-hpo-001-9b6b7a19 Completed: batch-size=64 lr=0.0036549427885857137 "
        "valid_accuracy=0.8963"
    )
    assert news(snapshot, told) == []


@pytest.mark.parametrize("name", ["failed", "mid_tuning"])
def test_a_recording_reads_back_as_it_was_written(name):
    snapshot = recorded(name)
    assert RunSnapshot.from_json(snapshot.to_json()) == snapshot
