"""How an execution's history reads as one row per state: time order, each state once, loops settled once left."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dogbreeds_cli.timeline import StateProgress, loops, settled, state_progress

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ASL = json.loads((Path(__file__).parents[2] / "statemachine" / "pipeline.asl.json").read_text())


def event(kind: str, second: float, name: str | None = None) -> dict:
    entry = {"type": kind, "timestamp": T0 + timedelta(seconds=second)}
    if kind.endswith("StateEntered"):
        entry["stateEnteredEventDetails"] = {"name": name}
    if kind.endswith("StateExited"):
        entry["stateExitedEventDetails"] = {"name": name}
    return entry


def visit(kind: str, name: str, start: float, end: float) -> list[dict]:
    return [event(f"{kind}StateEntered", start, name), event(f"{kind}StateExited", end, name)]


def tuning_loop(rounds: int, start: float) -> list[dict]:
    """``rounds`` times Wait (2 s) -> Check (1 s) -> Choice (0 s) from ``start``."""
    events, now = [], start
    for _ in range(rounds):
        events += visit("Wait", "WaitForTuning", now, now + 2)
        events += visit("Task", "CheckTuning", now + 2, now + 3)
        events += visit("Choice", "TuningDone", now + 3, now + 3)
        now += 3
    return events


def test_the_pipelines_loops_are_its_three_poll_loops():
    found = {frozenset(members) for members in loops(ASL).values()}
    assert found == {
        frozenset({"WaitForTuning", "CheckTuning", "TuningDone"}),
        frozenset({"WaitForTraining", "CheckTraining", "TrainingDone"}),
        frozenset({"WaitForEndpoint", "CheckEndpoint", "EndpointDone"}),
    }
    assert "ValidateDataset" not in loops(ASL)


def test_poll_loops_collapse_into_visits_with_the_time_spent_in_each_state():
    history = [event("ExecutionStarted", 0), *visit("Task", "ValidateDataset", 0, 1), *tuning_loop(3, 1)]
    history += visit("Task", "PickBest", 10, 10.5)
    assert state_progress(history) == [
        StateProgress("ValidateDataset", "SUCCEEDED", 1.0, 1, 0.0, 1.0),
        StateProgress("WaitForTuning", "SUCCEEDED", 6.0, 3, 1.0, 9.0),
        StateProgress("CheckTuning", "SUCCEEDED", 3.0, 3, 3.0, 10.0),
        StateProgress("TuningDone", "SUCCEEDED", 0.0, 3, 4.0, 10.0),
        StateProgress("PickBest", "SUCCEEDED", 0.5, 1, 10.0, 10.5),
    ]


def test_a_loop_is_settled_only_once_the_run_has_left_it():
    inside = [event("ExecutionStarted", 0), *visit("Task", "ValidateDataset", 0, 1), *tuning_loop(2, 1)]
    assert [state.name for state in settled(inside, loops(ASL), finished=False)] == ["ValidateDataset"]
    left = [*inside, event("TaskStateEntered", 7.5, "PickBest")]
    assert [state.name for state in settled(left, loops(ASL), finished=False)] == [
        "ValidateDataset",
        "WaitForTuning",
        "CheckTuning",
        "TuningDone",
    ]  # each once, in time order, with its final visit count
    assert {state.visits for state in settled(left, loops(ASL), finished=False)} == {1, 2}


def test_failures_stick_and_a_failed_run_settles_everything():
    history = [
        event("ExecutionStarted", 0),
        *visit("Task", "ValidateDataset", 0, 1),
        event("WaitStateEntered", 1, "WaitForTuning"),
        event("WaitStateExited", 3, "WaitForTuning"),
        event("TaskStateEntered", 3, "CheckTuning"),
        event("LambdaFunctionFailed", 4),
        event("TaskStateExited", 4, "CheckTuning"),
        *visit("Pass", "CheckTuningFailed", 4, 4),
        event("TaskStateEntered", 4, "NotifyFailure"),
    ]
    assert state_progress(history)[2] == StateProgress("CheckTuning", "FAILED", 1.0, 1, 3.0, 4.0)
    assert state_progress(history)[-1] == StateProgress("NotifyFailure", "RUNNING", 0.0, 1, 4.0, 4.0)
    # CheckTuningFailed is not on the loop, so entering it means the loop is over
    assert [state.name for state in settled(history, loops(ASL), finished=False)][-2:] == [
        "CheckTuning",
        "CheckTuningFailed",
    ]
    ended = [*history, event("TaskStateExited", 5, "NotifyFailure"), event("FailStateEntered", 5, "PipelineFailed")]
    ended.append(event("ExecutionFailed", 5))
    assert settled(ended, loops(ASL), finished=True)[-1] == StateProgress("PipelineFailed", "FAILED", 0.0, 1, 5.0, 5.0)
