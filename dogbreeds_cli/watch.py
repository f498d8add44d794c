"""Follow one run: a live view in a terminal, elsewhere (CI, a pipe, `make demo`'s log) one line per thing that
will not change any more, then the whole view once the run has ended. `dogbreeds watch` and `make demo` both
run this."""

import contextlib
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from dogbreeds_cli.snapshot import Clients, RunSnapshot, collect
from dogbreeds_cli.timeline import StateProgress, loops, settled
from dogbreeds_cli.view import metric_values, objective, render, shown_hyperparameter, state_line, training_line
from model_code.metrics import EPOCH, OBJECTIVE_METRIC


def news(snapshot: RunSnapshot, told: set) -> list[Text]:
    """Log lines for what ended since ``told`` (updated): trials, the training job's epochs."""
    lines = []
    for trial in snapshot.trials:
        key = ("trial", trial["TrainingJobName"])
        if trial["TrainingJobStatus"] != "InProgress" and key not in told:
            told.add(key)
            score = objective(trial)
            shown = "" if score is None else f" {OBJECTIVE_METRIC}={score:.4f}"
            tuned = sorted(trial.get("TunedHyperParameters", {}).items())
            params = " ".join(f"{name}={shown_hyperparameter(value)}" for name, value in tuned)
            lines.append(Text(f"  trial {trial['TrainingJobName']} {trial['TrainingJobStatus']}: {params}{shown}"))
    if snapshot.training:
        epoch = metric_values(snapshot.training).get(EPOCH)
        key = ("epoch", snapshot.training["TrainingJobName"], epoch)
        if epoch is not None and key not in told:
            told.add(key)
            # one line: the epoch and its metrics (the rules come with the final view)
            progress, metrics, *_ = [*training_line(snapshot.training).plain.split("\n  "), ""]
            lines.append(Text(f"  {progress}: {metrics}"))
    return lines


def watch(
    clients: Clients,
    execution_arn: str,
    console: Console,
    poll_seconds: float = 2.0,
    timeout: float | None = None,
    on_state: Callable[[StateProgress], None] = lambda state: None,
) -> RunSnapshot:
    """Follow the execution to its end; ``on_state`` gets each state once, when it can no longer change."""
    deadline = None if timeout is None else time.monotonic() + timeout
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    told: set = set()
    definition = None
    with live or contextlib.nullcontext():
        while True:
            snapshot = collect(clients, execution_arn, definition)
            definition = snapshot.definition
            for state in settled(snapshot.history, loops(definition), snapshot.finished):
                if ("state", state.name) not in told:
                    told.add(("state", state.name))
                    on_state(state)
                    if live is None:
                        console.print(Text("  ") + state_line(state))
            if live is None:
                for line in news(snapshot, told):
                    console.print(line)
            else:
                live.update(render(snapshot), refresh=True)
            if snapshot.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still running after {timeout:.0f} s")
            time.sleep(poll_seconds)
    if live is None:
        console.print(render(snapshot))
    return snapshot
