"""`dogbreeds watch`'s view of recorded runs (snapshots recorded on the twin by dogbreeds_cli.snapshot.collect;
only the events the view reads, without inputs, outputs but the latest, or Lambda stack traces)."""

import json

import pytest
from rich.console import Console

from dogbreeds_cli.snapshot import RunSnapshot
from dogbreeds_cli.view import gate_line, release_line, render
from dogbreeds_cli.watch import news
from tests.support.recordings import recorded


def shown(snapshot: RunSnapshot) -> list[str]:
    console = Console(width=100, record=True, force_terminal=False)
    console.print(render(snapshot))
    return [line.rstrip() for line in console.export_text().splitlines()]


def state_rows(lines: list[str]) -> list[list[str]]:
    """The states table's rows as cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│ ")]


def test_a_succeeded_run_shows_each_state_once_the_trials_training_gate_and_endpoint():
    lines = shown(recorded("succeeded"))
    assert (
        lines[0] == "Run digits-5988c32ffa6612f8  dataset s3://twin-databucket/datasets/digits.zip  SUCCEEDED  2476.3 s"
    )
    rows = state_rows(lines)
    assert [row[0] for row in rows[:16]] == [
        "ValidateDataset", "StartTuning", "WaitForTuning", "CheckTuning", "TuningDone", "PickBest",
        "StartTraining", "WaitForTraining", "CheckTraining", "TrainingDone", "QualityGate", "Deploy",
        "WaitForEndpoint", "CheckEndpoint", "EndpointDone", "Deployed",
    ]  # fmt: skip
    assert {row[1] for row in rows[:16]} == {"SUCCEEDED"}
    assert rows[2] == ["WaitForTuning", "SUCCEEDED", "1484.9 s", "295"]
    assert rows[16:] == [
        ["twin-b95e2a5d0c-hpo-001-8334d821", "Completed", "0.00365", "64", "0.9667"],
        ["twin-b95e2a5d0c-hpo-002-ce3db011", "Completed", "0.00439", "64", "0.9852 ★"],
    ]
    start = lines.index("Training twin-b95e2a5d0c-train: Completed (Completed), epoch 4/4")
    assert lines[start + 1 : start + 3] == [
        "  train_loss=0.1982 valid_loss=0.0625 valid_accuracy=0.9852 test_loss=0.0826 test_accuracy=0.9778",
        "  Debugger rules: LossNotDecreasing NoIssuesFound, Overfit NoIssuesFound, Overtraining IssuesFound",
    ]
    assert " ".join(lines[start + 3 : start + 5]) == (
        "Quality gate: passed: test accuracy 0.9778 (nothing served before); rules: LossNotDecreasing "
        "NoIssuesFound, Overfit NoIssuesFound, Overtraining IssuesFound"
    )
    assert lines[-1] == "Endpoint twin-endpoint: InService (config twin-b95e2a5d0c-config)"
    assert "Tuning twin-b95e2a5d0c-hpo: Completed, 2/2 trials done, best valid_accuracy 0.9852" in lines


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
    assert rows[5] == ["twin-6791b6d4ce-hpo-001-9b6b7a19", "InProgress", "0.00365", "64", "0.8963 ★"]
    assert not any(line.startswith(("Training", "Quality gate", "Endpoint", "Run FAILED")) for line in lines)


def test_the_log_tells_each_ended_trial_once():
    snapshot = recorded("mid_tuning")
    told: set = set()
    assert news(snapshot, told) == []  # the only trial is still running
    snapshot.trials[0] = {**snapshot.trials[0], "TrainingJobStatus": "Completed"}
    (line,) = news(snapshot, told)
    assert line.plain == (
        "  trial twin-6791b6d4ce-hpo-001-9b6b7a19 Completed: batch-size=64 lr=0.00365 valid_accuracy=0.8963"
    )
    assert news(snapshot, told) == []


def test_the_log_tells_the_final_jobs_epoch_with_its_metrics_on_one_line():
    told: set = set()
    *trials, training = news(recorded("succeeded"), told)
    assert len(trials) == 2
    assert training.plain == (
        "  Training twin-b95e2a5d0c-train: Completed (Completed), epoch 4/4: train_loss=0.1982 valid_loss=0.0625 "
        "valid_accuracy=0.9852 test_loss=0.0826 test_accuracy=0.9778"
    )


@pytest.mark.parametrize("name", ["succeeded", "failed", "mid_tuning"])
def test_a_recording_reads_back_as_it_was_written(name):
    snapshot = recorded(name)
    assert RunSnapshot.from_json(snapshot.to_json()) == snapshot


@pytest.mark.parametrize(
    ("rules", "shown"),
    [
        ({"Overfit": {"job": "NoIssuesFound"}}, "rules: Overfit NoIssuesFound"),
        (
            {"Overfit": {"job": "NoIssuesFound", "service": "IssuesFound"}},
            "rules: Overfit NoIssuesFound (job), IssuesFound (service)",
        ),
        ({"Overfit": "NoIssuesFound"}, "rules: Overfit NoIssuesFound"),  # as runs before the Debugger service split
        ({}, "rules: none"),
    ],
)
def test_the_gate_line_says_each_rules_verdict_in_words(rules, shown):
    snapshot = recorded("succeeded")
    gate = {"test_accuracy": 0.99, "served_accuracy": None, "rules": rules}
    snapshot.history.append(
        {"type": "TaskStateExited", "stateExitedEventDetails": {"output": json.dumps({"gate": gate})}}
    )
    assert gate_line(snapshot).plain.endswith(shown)


PACKAGE = {
    "arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/twin-models/3",
    "version": 3,
    "approval": "Approved",
    "summary": "v3 (test accuracy 0.9926, dataset digits.zip@ver3)",
}


def ended_in(state: str, document: dict, status: str = "SUCCEEDED") -> RunSnapshot:
    """The recorded run, ending in ``state`` with ``document`` as its state document."""
    snapshot = recorded("succeeded")
    snapshot.execution = {**snapshot.execution, "status": status}
    at = snapshot.history[-1]["timestamp"]
    snapshot.history += [
        {"type": "SucceedStateEntered", "timestamp": at, "stateEnteredEventDetails": {"name": state}},
        {"type": "SucceedStateExited", "timestamp": at,
         "stateExitedEventDetails": {"name": state, "output": json.dumps(document)}},
    ]  # fmt: skip
    return snapshot


def test_the_gate_line_says_what_the_gate_compared():
    comparison = "not worse than live v2 (0.9852) on the same test split"
    gate = {"test_accuracy": 0.9926, "served_accuracy": 0.9852, "rules": {}, "comparison": comparison}
    line = gate_line(ended_in("Deployed", {"gate": gate, "package": PACKAGE}))
    assert line.plain == f"Quality gate: passed: test accuracy 0.9926 ({comparison}); rules: none"


def test_a_model_registered_as_rejected_says_so():
    snapshot = ended_in("PipelineFailed", {"package": PACKAGE | {"approval": "Rejected"}}, "FAILED")
    assert gate_line(snapshot) is None  # the failure line gives the gate's reason
    assert release_line(snapshot).plain == (
        "Model v3 (test accuracy 0.9926, dataset digits.zip@ver3): Rejected, not deployed"
    )


@pytest.mark.parametrize(
    ("state", "approval", "outcome"),
    [
        ("Deployed", "Approved", "live"),
        ("AwaitingApproval", "PendingManualApproval", "awaits approval (`dogbreeds approve 3`)"),
        ("AlreadyLive", "Approved", "was live already: nothing deployed"),
    ],
)
def test_a_finished_run_names_its_version_and_what_became_of_it(state, approval, outcome):
    lines = shown(ended_in(state, {"package": PACKAGE | {"approval": approval}}))
    assert lines[-1] == f"Model v3 (test accuracy 0.9926, dataset digits.zip@ver3): {outcome}"


def test_a_run_without_a_package_shows_no_model_line():
    assert release_line(recorded("succeeded")) is None
    assert release_line(ended_in("Deployed", {"package": PACKAGE}, status="RUNNING")) is None
