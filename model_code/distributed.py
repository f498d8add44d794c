"""Data-parallel training across processes (torch.distributed), shaped like torchvision's
references/classification/utils.py: init_distributed_mode(), is_main_process(), reduce_across_processes().

SageMaker's PyTorch images launch the script with torchrun when a job enables the ``torch_distributed``
distribution (hyperparameter ``sagemaker_torch_distributed_enabled``, read by sagemaker-pytorch-training's
framework module): one process per GPU on every instance, each told its place by torchrun's variables (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Without them the script is one process, as before: every
helper here then answers as a single process would (rank 0 of 1, values unchanged), so that path runs no
collective and prints nothing more.
"""

import builtins
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler


def init_distributed_mode(args) -> None:
    """Join the process group torchrun described; sets ``args.distributed``, ``rank``, ``world_size``,
    ``local_rank``. NCCL on GPUs, gloo on CPUs (the local twin runs a two-GPU job as two CPU processes)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        args.distributed, args.rank, args.world_size, args.local_rank = False, 0, 1, 0
        return
    args.distributed = True
    args.rank = int(os.environ["RANK"])
    args.world_size = int(os.environ["WORLD_SIZE"])
    args.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(args.local_rank)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend, init_method="env://", world_size=args.world_size, rank=args.rank)
    dist.barrier()
    setup_for_distributed(args.rank == 0)
    print(f"distributed: {args.world_size} processes ({backend}); this is rank 0", flush=True)


def setup_for_distributed(is_master: bool) -> None:
    """Only rank 0 prints (its metric lines stand for every rank: they are reduced); ``print(..., force=True)``
    prints from any rank."""
    builtin_print = builtins.print

    def print(*args, **kwargs):  # torchvision's way: every module's print goes through this one
        force = kwargs.pop("force", False)
        if is_master or force:
            builtin_print(*args, **kwargs)

    builtins.print = print


def is_dist_avail_and_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist_avail_and_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist_avail_and_initialized() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def reduce_across_processes(values: Sequence[float]) -> list[float]:
    """The sum over every process of each of ``values`` (float64: sample counts stay exact); unchanged in a single
    process."""
    if not is_dist_avail_and_initialized():
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64, device=collective_device())
    dist.barrier()
    dist.all_reduce(tensor)
    return tensor.tolist()


def main_process_agrees(flag: bool) -> bool:
    """Rank 0's ``flag``, on every rank (e.g. whether it could make the smdebug hook every rank must follow)."""
    if not is_dist_avail_and_initialized():
        return flag
    tensor = torch.tensor([1 if flag else 0], device=collective_device())
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's BatchNorm statistics on every rank. DDP broadcasts them before each training forward, so after an
    epoch's last step each rank holds its own batch's update: this makes validation, the checkpoint and the
    exported weights the same on every rank."""
    if not is_dist_avail_and_initialized():
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def cleanup() -> None:
    if is_dist_avail_and_initialized():
        dist.barrier()
        dist.destroy_process_group()


def collective_device() -> torch.device:
    """NCCL reduces CUDA tensors only; gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...``: every sample of an evaluated split once, on exactly one rank. Unlike
    DistributedSampler it pads no rank with repeats, so the reduced sums are the split's, not a few samples more."""

    def __init__(self, length: int, rank: int, world_size: int):
        self.indices = range(rank, length, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
