"""An execution's history read as one progress line per state (poll loops collapse into visit counts), and an
execution followed to its end through any Step Functions client (the twin's, or AWS's in scripts/aws_smoke.py)."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class StateProgress:
    """One state of an execution as the history tells it."""

    name: str
    status: str  # SUCCEEDED | FAILED | RUNNING
    elapsed: float  # seconds since the execution started, when the state ended (or now)
    visits: int


def state_progress(events: list[dict]) -> list[StateProgress]:
    """States in the order first entered, each with its latest status: poll loops show as visit counts.

    A failure inside a state (a Lambda error caught by a Catch, a Fail state) marks that visit FAILED even when
    the state is then exited normally.
    """
    started = events[0]["timestamp"] if events else None
    states: dict[str, StateProgress] = {}
    current: str | None = None
    for event in events:
        kind = event["type"]
        elapsed = (event["timestamp"] - started).total_seconds() if isinstance(started, datetime) else 0.0
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
            visits = states[current].visits + 1 if current in states else 1
            states[current] = StateProgress(current, "RUNNING", elapsed, visits)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            previous = states[name]
            status = "FAILED" if previous.status == "FAILED" else "SUCCEEDED"
            states[name] = StateProgress(name, status, elapsed, previous.visits)
            current = None
        elif kind.endswith(("Failed", "TimedOut", "Aborted")) and current is not None:
            states[current] = StateProgress(current, "FAILED", elapsed, states[current].visits)
    return list(states.values())


def execution_history(stepfunctions, execution_arn: str) -> list[dict]:
    paginator = stepfunctions.get_paginator("get_execution_history")
    return [event for page in paginator.paginate(executionArn=execution_arn) for event in page["events"]]


def follow_execution(
    stepfunctions,
    execution_arn: str,
    on_progress: Callable[[StateProgress], None] = lambda progress: None,
    timeout: float = 600,
    poll_seconds: float = 1.0,
) -> dict:
    """Wait for the execution to end, reporting each state once when it ends (and poll loops once more at the
    end with their visit count); returns describe_execution's answer. TimeoutError when it outlives ``timeout``."""
    reported: dict[str, StateProgress] = {}
    deadline = time.monotonic() + timeout
    while True:
        description = stepfunctions.describe_execution(executionArn=execution_arn)
        finished = description["status"] in TERMINAL_STATUSES
        for progress in state_progress(execution_history(stepfunctions, execution_arn)):
            seen = reported.get(progress.name)
            ended = progress.status != "RUNNING"
            if ended and (
                seen is None or seen.status != progress.status or (finished and seen.visits != progress.visits)
            ):
                on_progress(progress)
                reported[progress.name] = progress
        if finished:
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {description['status']} after {timeout:.0f} s")
        time.sleep(poll_seconds)
