"""What every benchmark shares: the Lambdas' import path, timing and table printing."""

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

K = TypeVar("K")
# The benchmarks that time a Lambda's code import it as Lambda does, from its task root (the CodeUri, functions/);
# model_code, local_twin and the CLI come from the installed project.
ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def interleaved(cases: dict[K, Callable[[], object]], repeats: int, warmup: int = 3) -> dict[K, list[float]]:
    """Seconds per call of each case, one call of every case per round so that drift hits them alike."""
    samples: dict[K, list[float]] = {key: [] for key in cases}
    for round_number in range(warmup + repeats):
        for key, function in cases.items():
            started = time.perf_counter()
            function()
            if round_number >= warmup:
                samples[key].append(time.perf_counter() - started)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [header, *[[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(f"\nmachine: {machine()}", flush=True)
