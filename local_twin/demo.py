"""`make demo`: real handwritten digits through the whole pipeline on the twin, then one prediction over HTTP."""

import contextlib
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dogbreeds_cli import plots, target
from dogbreeds_cli.cli import post_image, predictions_view
from dogbreeds_cli.view import best_trial, failure_cause, metric_values, objective, shown_hyperparameter
from dogbreeds_cli.watch import watch
from local_twin import digits
from local_twin.twin import Twin, TwinError
from model_code.metrics import OBJECTIVE_METRIC, TEST_ACCURACY


def run_demo(on_line=lambda line: None, on_progress=lambda progress: None) -> int:
    """The demo on the terminal; everything the Lambdas, moto and the jobs print goes to .twin/logs/demo.log.

    ``on_line`` sees each terminal line and ``on_progress`` each state as it ends (benchmarks/demo_budget.py).
    """
    twin = Twin()
    log_path = twin.workdir / "logs" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout

    def say(line: str) -> None:
        print(line, file=terminal, flush=True)
        on_line(line)

    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            status = demo(twin, say, on_progress, Console(file=terminal))
        except (TwinError, TimeoutError) as error:
            say(f"demo failed: {error}")
            status = 1
    say(f"logs of the Lambdas, moto and the local SageMaker: {log_path}")
    return status


def trial_summary(trial: dict) -> str:
    """``lr=0.00365 batch-size=64: valid_accuracy 0.9926``."""
    tuned = " ".join(
        f"{name}={shown_hyperparameter(value)}" for name, value in sorted(trial["TunedHyperParameters"].items())
    )
    return f"{tuned}: {OBJECTIVE_METRIC} {objective(trial):.4f}"


def shown_path(path: Path) -> str:
    """Relative to the working folder when inside it (`make demo` runs in the checkout): short enough for 80 columns."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def demo(twin: Twin, say, on_progress=lambda progress: None, console: Console | None = None) -> int:
    """The main job; ``say`` gets the terminal's lines, ``on_progress`` each state once it is over, ``console``
    shows the run as `dogbreeds watch` does (the same code)."""
    console = console or Console()
    started = time.monotonic()
    demo_dir = twin.workdir / "demo"
    say(f"writing the digits dataset under {demo_dir} ...")
    held_out = digits.write_digits_dataset(demo_dir / "digits")
    zip_path = digits.zip_dataset(demo_dir / "digits", demo_dir / "digits.zip")
    say("starting the twin (moto, local SageMaker, local API) ...")
    with twin:
        where = target.from_connection(twin.connection())
        known = {execution["executionArn"] for execution in twin.executions()}
        key = twin.upload_dataset(zip_path)
        say(f"uploaded s3://{twin.aws.bucket}/{key}; following the pipeline (as `dogbreeds watch` does):")
        execution_arn = twin.wait_for_new_execution(known)
        # A hang guard, not a target: the run takes ~5 minutes on 2 idle cores.
        snapshot = watch(where.clients, execution_arn, console, poll_seconds=1, timeout=1800, on_state=on_progress)
        summary = Table(show_header=False)
        summary.add_column(no_wrap=True)
        summary.add_column(overflow="fold")
        summary.add_row("run", f"{snapshot.execution['name']}: {snapshot.execution['status']}")
        if snapshot.execution["status"] != "SUCCEEDED":
            summary.add_row("cause", failure_cause(snapshot))
            console.print(Text("make demo: summary"), summary)
            return 1
        sample = held_out[0]
        response = post_image(where.api_url, where.api_key(), sample.path)
        if response.status_code != 200:
            say(f"POST {where.api_url} answered {response.status_code}: {response.text}")
            return 1
        console.print(predictions_view(sample.path, response.json()))
        top = response.json()["predictions"][0]
        accuracy = metric_values(snapshot.training).get(TEST_ACCURACY)
        target_accuracy = float(twin.template.parameters["AccuracyThreshold"])
        right = top["label"] == sample.label
        accurate = accuracy is not None and accuracy >= target_accuracy
        best = best_trial(snapshot)
        written = plots.write_run_plots(where.clients, snapshot, twin.workdir / "plots" / snapshot.execution["name"])
        summary.add_row("best trial", trial_summary(best) if best else "none")
        summary.add_row("test accuracy", f"{accuracy} (target {target_accuracy}: {'met' if accurate else 'MISSED'})")
        summary.add_row(
            "prediction",
            f"{sample.path.name}, a {sample.label}: {top['label']} "
            f"(probability {top['probability']:.3f}, {'right' if right else 'WRONG'})",
        )
        summary.add_row("plots", "\n".join(shown_path(path) for path in written) or "none")
        summary.add_row("took", f"{time.monotonic() - started:.0f} s")
        console.print(Text("make demo: summary"), summary)
        say(f"prediction for {sample.path.name}: {'right' if right else 'WRONG'}")
    return 0 if right and accurate else 1
