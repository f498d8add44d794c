"""An execution's history read as one progress line per state (poll loops collapse into visit counts)."""

from dataclasses import dataclass
from datetime import datetime


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
