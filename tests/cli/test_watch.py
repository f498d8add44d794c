"""`dogbreeds watch` outside a terminal: one line per state once it can no longer change, then the view; the exit
status says how the run ended. The snapshots are the recorded ones (tests/support/recordings/)."""

import json
from datetime import timedelta

import pytest
from rich.console import Console

from dogbreeds_cli import watch as watch_module
from dogbreeds_cli.cli import main
from tests.support.recordings import recorded

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:twin-PipelineStateMachine"


@pytest.fixture
def twin_file(tmp_path):
    path = tmp_path / "up.json"
    connection = {"region": "us-east-1", "endpoints": {}, "state_machine_arn": STATE_MACHINE}
    path.write_text(json.dumps(connection | {"api_url": "http://127.0.0.1:1/predict", "api_key": "k"}))
    return path


def replay(monkeypatch, *snapshots):
    """collect() answers the snapshots in turn, and records which execution it was asked about."""
    asked, queue = [], list(snapshots)
    monkeypatch.setattr(watch_module, "collect", lambda clients, arn, definition: asked.append(arn) or queue.pop(0))
    return asked


def run_watch(twin_file, *argv) -> tuple[int, list[str]]:
    console = Console(record=True, width=120, force_terminal=False)
    status = main(["--twin", str(twin_file), "watch", *argv, "--poll", "0"], console=console)
    return status, [line.rstrip() for line in console.export_text().splitlines()]


def test_a_failed_run_is_logged_state_by_state_and_exits_1(monkeypatch, twin_file):
    asked = replay(monkeypatch, recorded("failed"))
    status, lines = run_watch(twin_file, "notes-29ee130072f4a5ab")
    assert status == 1
    assert asked == [STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":notes-29ee130072f4a5ab"]
    assert lines[:5] == [
        "  ValidateDataset          FAILED        0.2 s",
        "  ValidateDatasetFailed    SUCCEEDED     0.0 s",
        "  NotifyFailure            SUCCEEDED     0.1 s",
        "  PipelineFailed           FAILED        0.0 s",
        "Run notes-29ee130072f4a5ab  dataset s3://twin-databucket/datasets/notes.zip  FAILED  0.9 s",
    ]
    assert " ".join(lines[-2:]) == (
        "Run FAILED in ValidateDataset: InvalidDataset: missing train/, valid/ or test/ folder (optionally inside one "
        "wrapper folder)"
    )


def test_a_poll_loop_is_logged_once_when_the_run_leaves_it(monkeypatch, twin_file):
    running = recorded("mid_tuning")
    ended = recorded("mid_tuning")  # the same run, then stopped: every state is final
    stopped_at = ended.history[-1]["timestamp"] + timedelta(seconds=1)
    ended.execution = {**ended.execution, "status": "ABORTED", "stopDate": stopped_at}
    replay(monkeypatch, running, ended)
    seen = []
    monkeypatch.setattr(watch_module, "render", lambda snapshot: seen.append(snapshot.execution["status"]) or "")
    status, lines = run_watch(twin_file, "digits-af142988474415ee")
    assert status == 1 and seen == ["ABORTED"]  # the view once, at the end
    assert [line for line in lines if line] == [
        "  ValidateDataset          SUCCEEDED     0.1 s",
        "  StartTuning              SUCCEEDED     0.2 s",
        "  WaitForTuning            RUNNING     625.3 s (125 visits)",
        "  CheckTuning              SUCCEEDED    29.7 s (124 visits)",
        "  TuningDone               SUCCEEDED     0.1 s (124 visits)",
    ]
