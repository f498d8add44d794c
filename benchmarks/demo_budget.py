"""The local main job as a user runs it (`make demo`): upload -> first prediction, with the time of each state.

Goal: <= 6 minutes on 2 cores for the whole demo. Runs the very command a user types (`make demo`, in the
repository, in a process of its own: same profile, same .twin/ work folder, logs in .twin/logs/demo.log), prints
its lines as they come, then the table: each state as the demo reports it (its time in the state, and when the
demo printed it), the upload -> prediction span and the whole command.
"""

import argparse
import re
import shlex
import subprocess
import time

from benchmarks.common import ROOT, print_table

# What `dogbreeds watch` prints for a state once it is over, off a terminal (dogbreeds_cli.view.state_line)
STATE_LINE = re.compile(
    r"^\s+(?P<name>\S+)\s+(?P<status>[A-Z_]+)\s+(?P<seconds>[0-9.]+) s(?: \((?P<visits>\d+) visits\))?$"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--command", default="make demo", help="what to time, run in the repository (default: make demo)"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    marks: dict[str, float] = {}
    rows = []
    with subprocess.Popen(
        shlex.split(args.command), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as demo:
        for line in demo.stdout:
            print(line, end="", flush=True)
            at = time.monotonic() - started
            for prefix in ("uploaded", "prediction for"):
                if line.startswith(prefix):
                    marks[prefix] = at
            state = STATE_LINE.match(line.rstrip("\n"))
            if state and "uploaded" in marks:
                visits = int(state["visits"] or 1)
                rows.append([state["name"], state["status"], visits, float(state["seconds"]), at - marks["uploaded"]])
    status = demo.returncode
    total = time.monotonic() - started
    upload, prediction = marks.get("uploaded"), marks.get("prediction for")
    rows.append(["(make, dataset written, twin started)", "", "", upload or float("nan"), 0.0])
    if upload is not None and prediction is not None:
        rows.append(["upload -> first prediction", "", "", prediction - upload, prediction - upload])
    rows.append([f"whole `{args.command}`", "ok" if status == 0 else f"FAILED ({status})", "", total, total])
    print_table(
        f"`{args.command}` (goal: <= 360 s in all on 2 cores); state times from the demo's own lines, "
        "'printed at' in seconds since the upload",
        ["state", "status", "visits", "took s", "printed at s"],
        rows,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
