"""Data-parallel scaling: training throughput of N processes (torchrun, as SageMaker's torch_distributed
distribution launches them) over N x one process's, for every N this machine can run.

Each run is ``torchrun --standalone --nproc_per_node N`` over this module's ``--worker``, which trains the real
training loop (training.prepare_run / train_one_epoch: DistributedSampler, DDP, the reduced metrics) on the digits
as JPEGs. Throughput is every rank's images of an epoch over the slowest rank's time, median of the timed epochs
after a warm-up one. Scaling efficiency = throughput(N) / (N x throughput(1)). On CPUs (gloo) the cores are shared:
each process gets cores / N torch threads, so the table shows what splitting a fixed machine costs. On GPUs
(NCCL, ``--device cuda``) N is at most the GPU count and each process drives one GPU.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, print_table

RESULT = "ddp_scaling_result="


def worker(argv: list[str]) -> None:
    """One rank: the training loop's epochs, timed; rank 0 prints the run's result as one JSON line."""
    import torch

    from model_code import distributed, training

    parser = training.build_parser("one rank of the scaling benchmark")
    parser.add_argument("--timed-epochs", type=int, default=3)
    args = training.parse_args(parser, argv)
    args.epochs = args.timed_epochs + 1  # the first epoch warms up (allocator, data loader)
    run = training.prepare_run(args)
    per_epoch = []
    for epoch in range(1, args.epochs + 1):
        sampler = run.loaders["train"].sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        result = training.train_one_epoch(
            run.trained, run.loaders["train"], run.criterion, run.optimizer, run.scheduler, run.device, run.scaler
        )
        if run.device.type == "cuda":
            torch.cuda.synchronize(run.device)
        (slowest,) = _max_across_processes(time.perf_counter() - started)
        if epoch > 1:
            per_epoch.append(result.samples / slowest)  # result.samples: every rank's images (reduced)
    if distributed.is_main_process():
        print(RESULT + json.dumps({"images_per_second": statistics.median(per_epoch)}), flush=True)
    distributed.cleanup()


def _max_across_processes(seconds: float) -> list[float]:
    import torch
    import torch.distributed as dist

    from model_code import distributed

    if not distributed.is_dist_avail_and_initialized():
        return [seconds]
    value = torch.tensor([seconds], dtype=torch.float64, device=distributed.collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value.tolist()


def run_processes(processes: int, threads: int, device: str, data: Path, options: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPUs even where a GPU is present
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "--module", "benchmarks.ddp_scaling", "--worker", "--data-dir", str(data), *options]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{processes} processes failed: {(done.stdout + done.stderr)[-2000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith(RESULT))
    return json.loads(line.removeprefix(RESULT))["images_per_second"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=None, help="default: 1 and 2 (1..GPUs on cuda)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch, shared out over the processes")
    parser.add_argument("--timed-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each N (median)")
    args = parser.parse_args(argv)

    import torch

    from local_twin.digits import write_digits_dataset

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    cores = os.cpu_count() or 1
    processes = args.processes or (list(range(1, gpus + 1)) if device == "cuda" else [1, 2])
    options = ["--weights", "none", "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
               "--crop-scale-min", "0.6", "--hflip", "0", "--warmup-epochs", "0", "--workers", "0",
               "--timed-epochs", str(args.timed_epochs)]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_digits_dataset(data, image_size=args.image_size)
        throughput = {}
        for n in processes:
            threads = max(1, cores // n)  # the machine's cores shared out: no process oversubscribes them
            throughput[n] = median([run_processes(n, threads, device, data, options) for _ in range(args.repeats)])
            base = throughput[processes[0]] / processes[0]
            rows.append([n, threads, throughput[n], throughput[n] / (n * base)])
    print_table(
        f"Data-parallel scaling on {device} ({'gloo' if device == 'cpu' else 'NCCL'}): ResNet18 from scratch, digits "
        f"at {args.image_size} px, global batch {args.batch_size}, median of {args.timed_epochs} epochs; "
        f"efficiency = images/s of N processes / (N x images/s of {processes[0]} process"
        f"{'es' if processes[0] > 1 else ''} / {processes[0]})",
        ["processes", "threads each", "images/s", "scaling efficiency"],
        rows,
    )


if __name__ == "__main__":
    main()
