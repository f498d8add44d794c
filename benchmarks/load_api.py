"""Load on the local API: N concurrent clients posting a JPEG for D seconds, through the whole twin.

Goal: 0 errors (every answer a 200 with predictions).

Each client is a thread with its own requests.Session, posting the same dog-sized JPEG to the local API
front -> the Predict function (its own execution environments, up to 10 at once as on a new account) -> the
endpoint serving model_code/inference.py over a seeded untrained ResNet18 (local_twin.serving). Loopback only.
What this measures is the twin, not AWS: the clients share this process (and its GIL) with the API front,
moto and the local SageMaker; the handlers and the model run in processes of their own.
"""

import argparse
import contextlib
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import percentile, print_table
from benchmarks.inference_latency import dog_sized_jpeg

WARMUP_REQUESTS = 5  # the handler's cold start and the model's first forward are not load
LABELLED = "200"  # with predictions: the only outcome that is not an error


def client_loop(url: str, image: bytes, headers: dict, deadline: float, results: list, failures: dict) -> None:
    """Post until ``deadline``, appending (seconds, outcome): the status, or the exception's name; the first
    answer of each kind that is not a labelled image goes into ``failures``."""
    import requests

    with requests.Session() as session:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = session.post(url, data=image, headers=headers, timeout=60)
                outcome = str(answer.status_code)
                if outcome == LABELLED and not answer.json().get("predictions"):
                    outcome = "200 without predictions"
                if outcome != LABELLED:
                    failures.setdefault(outcome, answer.text[:200])
            except Exception as error:  # counted, never fatal: the run goes on
                outcome = type(error).__name__
                failures.setdefault(outcome, str(error)[:200])
            results.append((time.perf_counter() - started, outcome))


MAX_CLIENTS = 64
MAX_SECONDS = 600


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help=f"1 to {MAX_CLIENTS}")
    parser.add_argument("--seconds", type=float, default=60, help=f"up to {MAX_SECONDS}")
    parser.add_argument("--image-size", type=int, default=64, help="the model's input size")
    args = parser.parse_args(argv)
    # Loopback only and bounded: a load test must not turn into a soak test of the developer's machine.
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be from 1 to {MAX_CLIENTS}, got {args.clients}")
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be more than 0 and at most {MAX_SECONDS}, got {args.seconds}")

    import requests

    from local_twin.serving import serve_model, untrained_model_dir
    from local_twin.twin import Twin

    image = dog_sized_jpeg(0)
    results: list[tuple[float, str]] = []
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch, Twin(workdir=Path(scratch) / "twin") as twin:
        model_dir = untrained_model_dir(Path(scratch) / "model", [f"Breed {i}" for i in range(133)], args.image_size)
        serve_model(twin, model_dir)
        url = f"{twin.api.url}{twin.template.api().routes[0].path}"
        headers = {"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key}
        # The twin's own log lines stay out of the table.
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            for _ in range(WARMUP_REQUESTS):
                requests.post(url, data=image, headers=headers, timeout=120).raise_for_status()
            deadline = time.monotonic() + args.seconds
            clients = [
                threading.Thread(target=client_loop, args=(url, image, headers, deadline, results, failures))
                for _ in range(args.clients)
            ]
            started = time.monotonic()
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            elapsed = time.monotonic() - started

    latencies = [seconds for seconds, _ in results]
    errors = Counter(outcome for _, outcome in results if outcome != LABELLED)
    print_table(
        f"Load on the local API: {args.clients} clients for {args.seconds:.0f} s, one {len(image)} B JPEG each "
        f"request, {args.image_size} px model (goal: 0 errors)",
        ["clients", "seconds", "requests", "requests/s", "p50 ms", "p99 ms", "errors"],
        [
            [
                args.clients,
                f"{elapsed:.1f}",
                len(results),
                f"{len(results) / elapsed:.1f}",
                f"{percentile(latencies, 50) * 1000:.1f}",
                f"{percentile(latencies, 99) * 1000:.1f}",
                ", ".join(f"{outcome}: {count}" for outcome, count in sorted(errors.items())) or "0",
            ]
        ],
    )
    for outcome, message in failures.items():
        print(f"first {outcome}: {message}")


if __name__ == "__main__":
    main()
