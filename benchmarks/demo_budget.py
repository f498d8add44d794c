"""The local main job (`make demo`): upload -> first prediction, with the time of each state.

Goal: <= 6 minutes on 2 cores for the whole demo. Runs exactly what `make demo` runs (same profile,
same .twin/ work folder, logs in .twin/logs/demo.log) and prints the demo's own lines, then the table.
"""

import argparse
import time

from benchmarks.common import print_table


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)

    from local_twin.demo import run_demo

    started = time.monotonic()
    marks: dict[str, float] = {}
    states = {}  # name -> its report, once it is over (a poll loop with its visit count)

    def mark(line: str) -> None:
        for prefix in ("uploaded", "prediction for"):
            if line.startswith(prefix):
                marks[prefix] = time.monotonic() - started

    status = run_demo(on_line=mark, on_progress=lambda progress: states.update({progress.name: progress}))
    total = time.monotonic() - started
    rows = [
        [state.name, state.status, state.visits, state.seconds, state.ended]
        for state in sorted(states.values(), key=lambda state: state.started)
    ]
    upload, prediction = marks.get("uploaded"), marks.get("prediction for")
    rows.append(["(dataset written, twin started)", "", "", upload or float("nan"), 0.0])
    if upload is not None and prediction is not None:
        rows.append(["upload -> first prediction", "", "", prediction - upload, prediction - upload])
    rows.append(["whole demo", "ok" if status == 0 else "FAILED", "", total, total])
    print_table(
        "make demo on the twin (goal: <= 360 s in all on 2 cores); times in seconds since the execution started",
        ["state", "status", "visits", "took s", "ended at s"],
        rows,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
