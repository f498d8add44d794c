"""``python -m benchmarks [NAME ...]`` (``make bench``): each benchmark's table, one after the other (all by default).

Each is also a module of its own with its options: ``python -m benchmarks.<name> --help``.
"""

import argparse
import importlib

BENCHMARKS = (
    "training_throughput",
    "ddp_scaling",
    "shared_cores",
    "inference_latency",
    "predict_proxy",
    "load_api",
    "dataset_validation",
    "demo_budget",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")
    for name in args.names or BENCHMARKS:
        importlib.import_module(f"benchmarks.{name}").main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
