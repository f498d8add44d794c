"""An execution's history read as one row per state, in the order the states were first entered.

A poll loop (Wait -> Check -> Choice -> Wait ...) visits the same states many times: each shows once, with its
visit count and the time spent in it over all visits. A state is *settled* once it can never be entered again:
it has ended and the execution is outside its loop (the loops are read from the state machine's definition), or
the execution has ended.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class StateProgress:
    """One state of an execution as the history tells it."""

    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED
    seconds: float  # time spent in the state, all visits together
    visits: int
    started: float  # seconds from the execution's start to the first entry
    ended: float  # ... to the last exit (or the latest event while it runs)


def successors(state: dict) -> set[str]:
    names = {state.get("Next"), state.get("Default")}
    names |= {choice.get("Next") for choice in state.get("Choices", [])}
    names |= {catch.get("Next") for catch in state.get("Catch", [])}
    return names - {None}


def loops(definition: dict | str) -> dict[str, frozenset[str]]:
    """Each state that sits on a cycle -> the states of its cycle (a strongly connected component)."""
    states = (json.loads(definition) if isinstance(definition, str) else definition)["States"]
    graph = {name: successors(state) & set(states) for name, state in states.items()}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for following in graph[todo.pop()]:
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        return seen

    reach = {name: reachable(name) for name in graph}
    return {
        name: frozenset(other for other in reach[name] if name in reach[other]) for name in graph if name in reach[name]
    }


def _offset(event: dict, started) -> float:
    return (event["timestamp"] - started).total_seconds() if isinstance(started, datetime) else 0.0


def state_progress(events: list[dict]) -> list[StateProgress]:
    """States in the order first entered, each with its latest status, visits and time spent.

    A failure inside a state (a Lambda error caught by a Catch, a Fail state) marks it FAILED even when the state
    is then exited normally.
    """
    started = events[0]["timestamp"] if events else None
    states: dict[str, StateProgress] = {}
    entered_at: dict[str, float] = {}
    current: str | None = None
    for event in events:
        kind, now = event["type"], _offset(event, started)
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
            entered_at[current] = now
            seen = states.get(current)
            states[current] = (
                StateProgress(current, "RUNNING", seen.seconds, seen.visits + 1, seen.started, now)
                if seen
                else StateProgress(current, "RUNNING", 0.0, 1, now, now)
            )
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            seen = states[name]
            status = "FAILED" if seen.status == "FAILED" else "SUCCEEDED"
            spent = seen.seconds + now - entered_at.pop(name, now)
            states[name] = StateProgress(name, status, spent, seen.visits, seen.started, now)
            current = None
        elif kind.endswith(("Failed", "TimedOut", "Aborted")) and current is not None:
            seen = states[current]
            spent = seen.seconds + now - entered_at.pop(current, now)
            states[current] = StateProgress(current, "FAILED", spent, seen.visits, seen.started, now)
    latest = _offset(events[-1], started) if events else 0.0
    for name, since in entered_at.items():  # still inside: the time so far counts
        seen = states[name]
        states[name] = StateProgress(
            name, seen.status, seen.seconds + latest - since, seen.visits, seen.started, latest
        )
    return list(states.values())


def last_entered(events: list[dict]) -> str | None:
    return next(
        (
            event["stateEnteredEventDetails"]["name"]
            for event in reversed(events)
            if "stateEnteredEventDetails" in event
        ),
        None,
    )


def settled(events: list[dict], state_loops: dict[str, frozenset[str]], finished: bool) -> list[StateProgress]:
    """The states that will not change any more, in the order first entered."""
    progress = state_progress(events)
    if finished:
        return progress
    where = last_entered(events)
    return [
        state
        for state in progress
        if state.status != "RUNNING" and where not in state_loops.get(state.name, frozenset())
    ]


def history(stepfunctions, execution_arn: str) -> list[dict]:
    paginator = stepfunctions.get_paginator("get_execution_history")
    return [event for page in paginator.paginate(executionArn=execution_arn) for event in page["events"]]


def follow_execution(
    stepfunctions,
    execution_arn: str,
    on_progress: Callable[[StateProgress], None] = lambda progress: None,
    timeout: float = 600,
    poll_seconds: float = 1.0,
) -> dict:
    """Wait for the execution to end (through any Step Functions client: the twin's or AWS's), reporting each
    state once, in the order first entered, when it can no longer change (a poll loop once the run has left it);
    returns describe_execution's answer. TimeoutError when it outlives ``timeout``."""
    description = stepfunctions.describe_execution(executionArn=execution_arn)
    machine = stepfunctions.describe_state_machine(stateMachineArn=description["stateMachineArn"])
    state_loops = loops(machine["definition"])
    reported: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        description = stepfunctions.describe_execution(executionArn=execution_arn)
        finished = description["status"] in TERMINAL_STATUSES
        for progress in settled(history(stepfunctions, execution_arn), state_loops, finished):
            if progress.name not in reported:
                reported.add(progress.name)
                on_progress(progress)
        if finished:
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {description['status']} after {timeout:.0f} s")
        time.sleep(poll_seconds)
