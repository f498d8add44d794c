"""Torch processes sharing the cores: one training step of the digits demo's network (ResNet18, 10 classes, a batch
of 64 at 32 px), alone and with a second process stepping at the same time, under each OpenMP wait setting.

The twin runs every job and endpoint on this machine, beside the test suite's workers; SageMaker gives each its
own instances. torch's OpenMP threads spin while they wait for work, which costs nothing alone and a lot when
another process needs the same cores. local_twin/sagemaker/runtime.py's SHARED_CORES is the setting chosen here.
Each case runs in fresh interpreters of the training image's stand-in (OpenMP reads its settings at start).
"""

import argparse
import os
import subprocess
import sys
import time

from benchmarks.common import ROOT, print_table

RESULT = "ms_per_step="
OPENMP = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")


def worker(steps: int) -> None:
    import torch

    from model_code import dogbreeds  # the workers' folder is the project's root (run_together's cwd)

    model = dogbreeds.build_model(10, weights="none")
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images, labels = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):  # warm-up: allocator, first kernels
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"{RESULT}{(time.perf_counter() - started) / steps * 1000:.1f}", flush=True)


def run_together(python: str, environment: dict[str, str], processes: int, steps: int) -> list[float]:
    """Milliseconds per step of each of ``processes`` workers started at once."""
    variables = {key: value for key, value in os.environ.items() if key not in OPENMP}
    command = [python, "-m", "benchmarks.shared_cores", "--worker", "--steps", str(steps)]
    running = [
        subprocess.Popen(command, env=variables | environment, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(processes)
    ]
    outputs = [process.communicate()[0] for process in running]
    return [float(line.removeprefix(RESULT)) for out in outputs for line in out.splitlines() if line.startswith(RESULT)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.steps)
        return
    from local_twin.sagemaker.images import ImageStacks  # here: the workers run in the image, without the twin
    from local_twin.sagemaker.runtime import SHARED_CORES

    settings = {
        "OpenMP's default (spin)": {},
        "GOMP_SPINCOUNT=10000 (the twin's until 2026-12-05)": {"GOMP_SPINCOUNT": "10000"},
        "OMP_WAIT_POLICY=PASSIVE (the twin's)": SHARED_CORES,
        "1 thread each": {"OMP_NUM_THREADS": "1"},
    }
    python = ImageStacks.built_in().training.python
    rows = []
    for name, environment in settings.items():
        alone = run_together(python, environment, 1, args.steps)[0]
        pair = run_together(python, environment, 2, args.steps)
        rows.append([name, alone, max(pair), max(pair) / alone])
    print_table(
        "One training step, ms: alone and with a second process stepping at once (the training image's stand-in)",
        ["setting", "alone", "two at once (slower)", "two / alone"],
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
