"""How the twin reads an execution's history into one progress line per state, and the upload prefix."""

from datetime import UTC, datetime, timedelta

from local_twin.progress import StateProgress, state_progress
from local_twin.template import RuleSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(kind: str, second: float, name: str | None = None) -> dict:
    entry = {"type": kind, "timestamp": T0 + timedelta(seconds=second)}
    if kind.endswith("StateEntered"):
        entry["stateEnteredEventDetails"] = {"name": name}
    if kind.endswith("StateExited"):
        entry["stateExitedEventDetails"] = {"name": name}
    return entry


def test_poll_loops_collapse_into_visits_and_failures_stick():
    history = [
        event("ExecutionStarted", 0),
        event("TaskStateEntered", 0, "ValidateDataset"),
        event("TaskStateExited", 1, "ValidateDataset"),
        event("WaitStateEntered", 1, "WaitForTuning"),
        event("WaitStateExited", 3, "WaitForTuning"),
        event("TaskStateEntered", 3, "CheckTuning"),
        event("TaskStateExited", 4, "CheckTuning"),
        event("WaitStateEntered", 4, "WaitForTuning"),
        event("WaitStateExited", 6, "WaitForTuning"),
        event("TaskStateEntered", 6, "CheckTuning"),
        event("LambdaFunctionFailed", 7),
        event("TaskStateExited", 7, "CheckTuning"),
        event("TaskStateEntered", 7, "NotifyFailure"),
    ]
    assert state_progress(history) == [
        StateProgress("ValidateDataset", "SUCCEEDED", 1.0, 1),
        StateProgress("WaitForTuning", "SUCCEEDED", 6.0, 2),
        StateProgress("CheckTuning", "FAILED", 7.0, 2),
        StateProgress("NotifyFailure", "RUNNING", 7.0, 1),
    ]


def test_fail_state_is_failed():
    history = [
        event("ExecutionStarted", 0),
        event("FailStateEntered", 2, "PipelineFailed"),
        event("ExecutionFailed", 2),
    ]
    assert state_progress(history) == [StateProgress("PipelineFailed", "FAILED", 2.0, 1)]


def test_upload_prefix_from_the_rule_pattern():
    def prefix(pattern: dict) -> str:
        return RuleSpec("rule", pattern, []).upload_prefix

    assert prefix({"detail": {"object": {"key": [{"prefix": "datasets/"}, {"suffix": ".zip"}]}}}) == "datasets/"
    assert prefix({"detail": {"object": {"key": [{"wildcard": "uploads/*.zip"}]}}}) == "uploads/"
    assert prefix({"source": ["aws.s3"]}) == ""
