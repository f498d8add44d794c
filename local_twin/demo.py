"""`make demo`: real handwritten digits through the whole pipeline on the twin, then one prediction over HTTP."""

import contextlib
import json
import sys
import time

from rich.console import Console
from rich.table import Table

from dogbreeds_cli import plots, target
from dogbreeds_cli.cli import post_image, predictions_table
from dogbreeds_cli.view import best_trial, failure_cause, metric_values
from dogbreeds_cli.watch import watch
from local_twin import digits
from local_twin.twin import Twin, TwinError
from model_code.metrics import TEST_ACCURACY


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
        summary = Table(title="make demo: summary", title_justify="left", show_header=False)
        summary.add_row("run", f"{snapshot.execution['name']}: {snapshot.execution['status']}")
        if snapshot.execution["status"] != "SUCCEEDED":
            summary.add_row("cause", failure_cause(snapshot))
            console.print(summary)
            return 1
        sample = held_out[0]
        response = post_image(where.api_url, where.api_key(), sample.path)
        if response.status_code != 200:
            say(f"POST {where.api_url} answered {response.status_code}: {response.text}")
            return 1
        console.print(predictions_table(sample.path, response.json()))
        top = response.json()["predictions"][0]
        accuracy = metric_values(snapshot.training).get(TEST_ACCURACY)
        target_accuracy = float(twin.template.parameters["AccuracyThreshold"])
        right = top["label"] == sample.label
        accurate = accuracy is not None and accuracy >= target_accuracy
        best = best_trial(snapshot)
        written = plots.write_run_plots(where.clients, snapshot, twin.workdir / "plots" / snapshot.execution["name"])
        summary.add_row("best trial", json.dumps(best["TunedHyperParameters"], sort_keys=True) if best else "none")
        summary.add_row("test accuracy", f"{accuracy} (target {target_accuracy}: {'met' if accurate else 'MISSED'})")
        summary.add_row(
            f"prediction for {sample.path.name}, a {sample.label}",
            f"{top['label']} (probability {top['probability']:.3f}, {'right' if right else 'WRONG'})",
        )
        summary.add_row("plots", "\n".join(str(path) for path in written) or "none")
        summary.add_row("took", f"{time.monotonic() - started:.0f} s")
        console.print(summary)
        say(f"prediction for {sample.path.name}: {'right' if right else 'WRONG'}")
    return 0 if right and accurate else 1
