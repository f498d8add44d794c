"""The training loop shared by hpo.py (tuning trials) and train_model.py (the debugged final training).

Shaped like torchvision's references/classification/train.py: one argument parser, train_one_epoch(),
evaluate(), and one stable metric line per epoch (format and regexes in metrics.py). Launched by torchrun
(SageMaker's ``torch_distributed`` distribution), it trains data-parallel (distributed.py): each rank trains on
its share of every epoch (DistributedSampler) through DistributedDataParallel, evaluates its share of a split,
and the sums are reduced so every metric line is the whole split's; the learning rate follows the global batch
(docs/model.md).
"""

import argparse
import contextlib
import json
import logging
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from model_code import distributed, dogbreeds, monitoring
from model_code.dataset_contract import SPLITS
from model_code.metrics import TRAIN_LOSS, VALID_ACCURACY, VALID_LOSS, format_metric_line

log = logging.getLogger(__name__)


def _env_path(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def build_parser(description: str) -> argparse.ArgumentParser:
    """Hyperparameters (SageMaker passes them as ``--<key> <value>``) and SageMaker's folders."""
    parser = argparse.ArgumentParser(description=description)
    hp = parser.add_argument_group("hyperparameters (defaults: the dog-breed fine-tuning recipe, docs/model.md)")
    hp.add_argument(
        "--arch", choices=dogbreeds.ARCHITECTURES, default=dogbreeds.DEFAULT_ARCHITECTURE, help="the ResNet to train"
    )
    hp.add_argument("--lr", type=float, default=1e-3, help="learning rate of the new head (AdamW)")
    hp.add_argument("--batch-size", type=int, default=32)
    hp.add_argument("--epochs", type=int, default=5, help="epochs of this job (the template sets trials' and final's)")
    hp.add_argument(
        "--warmup-epochs",
        type=float,
        default=1.0,
        help="linear learning-rate warm-up before the per-step cosine decay (at most half the run)",
    )
    hp.add_argument("--weight-decay", type=float, default=0.05, help="AdamW's decoupled weight decay of the weights")
    hp.add_argument(
        "--norm-weight-decay",
        type=float,
        default=0.0,
        help="weight decay of BatchNorm parameters and of every bias (0: none, as torchvision's recipes)",
    )
    hp.add_argument(
        "--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing (torchvision's recipes: 0.1)"
    )
    hp.add_argument(
        "--fine-tune",
        choices=dogbreeds.FINE_TUNE_MODES,
        default="full",
        help="full: train everything; frozen: only the head (the backbone's BatchNorm stays in eval mode)",
    )
    hp.add_argument(
        "--backbone-lr-factor",
        type=float,
        default=0.1,
        help="backbone learning rate = lr * this (full fine-tune); 1.0 when training from scratch",
    )
    hp.add_argument("--image-size", type=int, default=224)
    hp.add_argument("--weights", default="imagenet", help="imagenet | none | path or s3:// URI of a state_dict")
    hp.add_argument(
        "--crop-scale-min",
        type=float,
        default=0.25,
        help="smallest random-resized-crop area: 0.25 keeps most of the dog (0.08 is ImageNet-from-scratch strength)",
    )
    hp.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    hp.add_argument("--workers", type=int, default=dogbreeds.default_workers(), help="DataLoader workers")
    hp.add_argument("--seed", type=int, default=0)
    hp.add_argument(
        "--dataset-fingerprint",
        default="",
        help="content hash of the dataset zip (set by the pipeline): recorded in the model's metadata",
    )
    paths = parser.add_argument_group("folders (SageMaker sets them through SM_* variables)")
    paths.add_argument("--data-dir", default=_env_path("SM_CHANNEL_TRAINING"), help="the training channel")
    paths.add_argument("--model-dir", default=_env_path("SM_MODEL_DIR", "model"))
    paths.add_argument("--output-data-dir", default=_env_path("SM_OUTPUT_DATA_DIR", "output"))
    paths.add_argument("--checkpoint-dir", default=default_checkpoint_dir(), help="resume from / save to here")
    return parser


def default_checkpoint_dir() -> str | None:
    """SageMaker mounts checkpoints at <base>/checkpoints only when the job asks for them (CheckpointConfig)."""
    folder = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")) / "checkpoints"
    return str(folder) if folder.is_dir() else None


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data-dir is required outside SageMaker (SM_CHANNEL_TRAINING is not set)")
    if args.lr < 0 or args.batch_size < 1 or args.epochs < 1 or args.image_size < 16:
        parser.error("lr must be >= 0, batch-size >= 1, epochs >= 1, image-size >= 16")
    if not 0 < args.crop_scale_min <= 1 or not 0 <= args.hflip <= 1:
        parser.error("crop-scale-min must be in (0, 1] and hflip in [0, 1]")
    if not 0 <= args.label_smoothing < 1 or args.warmup_epochs < 0:
        parser.error("label-smoothing must be in [0, 1) and warmup-epochs >= 0")
    if args.weight_decay < 0 or args.norm_weight_decay < 0:
        parser.error("weight-decay and norm-weight-decay must be >= 0")
    return args


class ImageDataset(Dataset):
    """(image tensor, class index); an unreadable image yields None and is counted by the collate."""

    def __init__(self, samples: list[tuple[Path, int]], transform: Callable):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        try:
            return self.transform(dogbreeds.load_rgb(path)), target
        except dogbreeds.UNREADABLE_IMAGE_ERRORS as error:
            log.warning("skipping unreadable image %s: %s", path, error)
            return None


def collate_skipping(batch: list) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Stack the readable samples; report how many were skipped."""
    good = [item for item in batch if item is not None]
    skipped = len(batch) - len(good)
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    images, targets = zip(*good, strict=True)
    return torch.stack(images), torch.tensor(targets), skipped


@dataclass
class EpochResult:
    loss: float
    accuracy: float
    samples: int
    skipped: int
    # when asked (evaluate(..., num_classes=N)): images per tenth of top-1 probability, and per predicted class
    confidence_histogram: list[int] = field(default_factory=list)
    predicted_counts: list[int] = field(default_factory=list)


def _run_epoch(
    model, loader, criterion, device, optimizer=None, scaler=None, scheduler=None, num_classes: int | None = None
) -> EpochResult:
    """One pass; trains when an optimizer is given (the scheduler steps per batch). Per-sample averages, no
    graphs kept alive; in a distributed run, of every rank's share (the sums are reduced across processes).
    With ``num_classes``, also what the answers looked like (the monitoring baseline: model_code/monitoring.py)."""
    training = optimizer is not None
    histogram = torch.zeros(monitoring.CONFIDENCE_BINS, dtype=torch.long)
    predicted = torch.zeros(num_classes or 0, dtype=torch.long)
    dogbreeds.set_training_mode(model, training)
    total_loss, correct, seen, skipped = 0.0, 0, 0, 0
    use_cuda = device.type == "cuda"
    grad_context = contextlib.nullcontext() if training else torch.inference_mode()
    with grad_context:
        for images, targets, batch_skipped in loader:
            skipped += batch_skipped
            if not len(targets):
                continue
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if use_cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, enabled=use_cuda):
                outputs = model(images)
                loss = criterion(outputs, targets)
            if training:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                scheduler.step()
            batch = len(targets)
            total_loss += loss.item() * batch
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            seen += batch
            if num_classes:
                top = torch.softmax(outputs.float(), dim=1).max(dim=1)
                bins = (top.values * monitoring.CONFIDENCE_BINS).long().clamp(max=monitoring.CONFIDENCE_BINS - 1)
                histogram += torch.bincount(bins, minlength=monitoring.CONFIDENCE_BINS).cpu()
                predicted += torch.bincount(top.indices, minlength=num_classes).cpu()
    # every rank's share summed (one process: the values as they are)
    answers = [*histogram.tolist(), *predicted.tolist()] if num_classes else []
    sums = distributed.reduce_across_processes([total_loss, correct, seen, skipped, *answers])
    total_loss, correct, seen, skipped = sums[0], int(sums[1]), int(sums[2]), int(sums[3])
    if seen == 0:
        raise RuntimeError("no readable image in this split")
    answers = [int(count) for count in sums[4:]]
    bins = monitoring.CONFIDENCE_BINS
    return EpochResult(
        loss=total_loss / seen, accuracy=correct / seen, samples=seen, skipped=skipped,
        confidence_histogram=answers[:bins], predicted_counts=answers[bins:],
    )  # fmt: skip


def train_one_epoch(model, loader, criterion, optimizer, scheduler, device, scaler=None) -> EpochResult:
    return _run_epoch(model, loader, criterion, device, optimizer=optimizer, scaler=scaler, scheduler=scheduler)


def evaluate(model, loader, criterion, device, num_classes: int | None = None) -> EpochResult:
    return _run_epoch(model, loader, criterion, device, num_classes=num_classes)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def make_loader(split: dogbreeds.Split, transform, args, shuffle: bool, device: torch.device) -> DataLoader:
    """One process: the whole split (shuffled for training). Distributed: the training split through a
    DistributedSampler (shuffled anew each epoch, seeded, every rank the same number of batches: DDP needs it),
    an evaluated split in disjoint shares (ShardSampler)."""
    dataset = ImageDataset(split.samples, transform)
    sampler = None
    if args.distributed:
        if shuffle:
            sampler = DistributedSampler(dataset, args.world_size, args.rank, shuffle=True, seed=args.seed)
        else:
            sampler = distributed.ShardSampler(len(dataset), args.rank, args.world_size)
    return DataLoader(
        dataset,
        batch_size=process_batch_size(args),
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
        collate_fn=collate_skipping,
        drop_last=False,
    )


@dataclass
class Run:
    """Everything a script needs after (or during) training."""

    args: argparse.Namespace
    device: torch.device
    classes: list[str]
    loaders: dict[str, DataLoader]
    model: nn.Module  # the bare model: what is evaluated, checkpointed and exported
    trained: nn.Module  # what trains: the model, or its DistributedDataParallel wrapper
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    history: list[dict] = field(default_factory=list)
    skipped_images: int = 0
    best_epoch: dict | None = None  # the history entry of the best validation accuracy so far
    best_state: dict | None = None  # its weights (on the CPU): what the job exports


def prepare_run(args: argparse.Namespace, work_dir: Path | None = None) -> Run:
    distributed.init_distributed_mode(args)
    seed_everything(args.seed)
    device = torch.device("cuda", args.local_rank) if torch.cuda.is_available() else torch.device("cpu")
    root = dogbreeds.prepare_dataset(Path(args.data_dir), work_dir)
    dataset = dogbreeds.discover_dataset(root)
    classes = dataset["train"].classes
    print(
        f"dataset {root}: {len(classes)} classes, "
        + ", ".join(f"{split}={len(dataset[split].samples)}" for split in SPLITS),
        flush=True,
    )
    train_tf = dogbreeds.train_preset(args.image_size, args.crop_scale_min, args.hflip)
    eval_tf = dogbreeds.eval_preset(args.image_size)
    loaders = {
        "train": make_loader(dataset["train"], train_tf, args, shuffle=True, device=device),
        "valid": make_loader(dataset["valid"], eval_tf, args, shuffle=False, device=device),
        "test": make_loader(dataset["test"], eval_tf, args, shuffle=False, device=device),
    }
    model = dogbreeds.build_model(len(classes), args.weights, args.fine_tune, args.arch).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    groups = dogbreeds.parameter_groups(
        model, scaled_lr(args), args.backbone_lr_factor, args.weight_decay, args.norm_weight_decay
    )
    optimizer = torch.optim.AdamW(groups)
    scheduler = warmup_cosine_schedule(optimizer, len(loaders["train"]), args.epochs, args.warmup_epochs)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    return Run(
        args=args,
        device=device,
        classes=classes,
        loaders=loaders,
        model=model,
        trained=DistributedDataParallel(model, device_ids=[args.local_rank] if device.type == "cuda" else None)
        if args.distributed
        else model,
        criterion=nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
    )


def process_batch_size(args: argparse.Namespace) -> int:
    """``--batch-size`` is the global batch, the one tuning chose: N processes take ceil(batch / N) each, so a job
    takes as many steps per epoch on N GPUs as on one (docs/model.md)."""
    return -(-args.batch_size // args.world_size) if args.distributed else args.batch_size


def scaled_lr(args: argparse.Namespace) -> float:
    """The learning rate follows the global batch by the linear scaling rule (Goyal et al. 2017, docs/model.md):
    ``--lr`` is the rate for a global batch of ``--batch-size``; the batch N processes really train on,
    N x ceil(batch / N), is at most N - 1 images larger, and the rate grows in the same proportion."""
    if not args.distributed:
        return args.lr
    global_batch = process_batch_size(args) * args.world_size
    lr = args.lr * global_batch / args.batch_size
    print(
        f"learning rate {lr} for a global batch of {global_batch} ({args.world_size} processes x "
        f"{process_batch_size(args)}; --lr {args.lr} is for {args.batch_size})",
        flush=True,
    )
    return lr


def warmup_cosine_schedule(optimizer, steps_per_epoch: int, epochs: int, warmup_epochs: float):
    """Per step: a linear warm-up (capped at half the run) from lr/steps to lr, then cosine decay to 0."""
    total = max(1, steps_per_epoch * epochs)
    warmup = min(round(warmup_epochs * steps_per_epoch), total // 2)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


CHECKPOINT_FILE = "checkpoint.pth"


def job_name() -> str | None:
    """SageMaker names the job in the container; a spot restart keeps the name, another trial has its own."""
    return os.environ.get("TRAINING_JOB_NAME")


def checkpoint_path(checkpoint_dir: str | Path) -> Path:
    """The job's own checkpoint: ``<checkpoint dir>/<job name>/checkpoint.pth``. SageMaker syncs the checkpoint
    folder with one S3 prefix, which a tuning job's trials all share (its training job definition has one
    CheckpointConfig): under its own name, a trial never overwrites another's, and a restarted one finds its own."""
    return Path(checkpoint_dir) / (job_name() or "") / CHECKPOINT_FILE


def save_checkpoint(run: Run, epoch: int, checkpoint_dir: Path) -> None:
    path = checkpoint_path(checkpoint_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "job": job_name(),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
        "skipped_images": run.skipped_images,
        "best_epoch": run.best_epoch,
        "best_state": run.best_state,
    }
    partial = path.with_name(CHECKPOINT_FILE + ".partial")
    torch.save(state, partial)
    partial.replace(path)  # atomic: a spot interruption never leaves half a file


def _read_checkpoint(run: Run) -> tuple[Path | None, dict | None]:
    """The job's own checkpoint in ``--checkpoint-dir`` and its state, or (path, None)."""
    path = checkpoint_path(run.args.checkpoint_dir) if run.args.checkpoint_dir else None
    if not path or not path.is_file():
        return path, None
    state = torch.load(path, map_location=run.device, weights_only=False)
    if state["job"] != job_name():  # a file put there by hand, say: never continue another job's run
        print(f"ignoring {path}: it is job {state['job']}'s, not {job_name()}'s", flush=True)
        return path, None
    return path, state


def resume(run: Run) -> int:
    """Restore the last checkpoint of ``--checkpoint-dir``, if any; returns the first epoch still to train.
    Distributed, rank 0's checkpoint is every rank's (sent to the others): the ranks resume at the same epoch with
    the same state, whether or not every instance's checkpoint folder holds the file."""
    path, state = _read_checkpoint(run) if distributed.is_main_process() else (None, None)
    if distributed.is_dist_avail_and_initialized():
        shared = [state]
        torch.distributed.broadcast_object_list(shared, src=0)
        state = shared[0]
    if state is None:
        return 1
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.history = state["history"]
    run.skipped_images = state["skipped_images"]
    run.best_epoch, run.best_state = state["best_epoch"], state["best_state"]
    print(f"resumed from {path} after epoch {state['epoch']}", flush=True)
    return state["epoch"] + 1


def fit(run: Run, start_epoch: int = 1, on_phase: Callable[[str], None] = lambda phase: None) -> None:
    """Train, and evaluate on VALIDATION after every epoch (never on test), printing one metric line; checkpoint
    each epoch when there is a checkpoint folder (rank 0 writes it: every rank holds the same). Ends with the best
    validation epoch's weights in the model and a ``best_epoch=N valid_accuracy=...`` line (the tuning objective:
    the accuracy of what is exported)."""
    for epoch in range(start_epoch, run.args.epochs + 1):
        on_phase("train")
        if isinstance(run.loaders["train"].sampler, DistributedSampler):
            run.loaders["train"].sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        train = train_one_epoch(
            run.trained, run.loaders["train"], run.criterion, run.optimizer, run.scheduler, run.device, run.scaler
        )
        distributed.broadcast_buffers(run.model)
        on_phase("eval")
        valid = evaluate(run.model, run.loaders["valid"], run.criterion, run.device)
        # the same unreadable files are skipped every epoch: count them once
        run.skipped_images = max(run.skipped_images, train.skipped + valid.skipped)
        metrics = {TRAIN_LOSS: train.loss, VALID_LOSS: valid.loss, VALID_ACCURACY: valid.accuracy}
        run.history.append({"epoch": epoch, **metrics})
        print(format_metric_line(epoch, **metrics), flush=True)
        if run.best_epoch is None or valid.accuracy > run.best_epoch[VALID_ACCURACY]:
            run.best_epoch = run.history[-1]
            run.best_state = {key: value.detach().to("cpu", copy=True) for key, value in run.model.state_dict().items()}
        if run.args.checkpoint_dir and distributed.is_main_process():
            save_checkpoint(run, epoch, Path(run.args.checkpoint_dir))
    if run.skipped_images:
        print(f"skipped_images={run.skipped_images} (unreadable or truncated files)", flush=True)
    run.model.load_state_dict(run.best_state)
    best = run.best_epoch
    print(f"best_epoch={best['epoch']} " + format_metric_line(**{VALID_ACCURACY: best[VALID_ACCURACY]}), flush=True)


def hyperparameters_of(args: argparse.Namespace) -> dict:
    keep = ("arch", "lr", "batch_size", "epochs", "warmup_epochs", "weight_decay", "norm_weight_decay")
    keep += ("label_smoothing", "fine_tune", "backbone_lr_factor", "image_size", "weights", "crop_scale_min", "hflip")
    keep += ("seed", "dataset_fingerprint")
    return {name: getattr(args, name) for name in keep}


def model_metadata(run: Run, **extra) -> dict:
    """What a model folder says about its model (inference.py reads the image size from it); a distributed run's
    also names how many processes trained it."""
    processes = {"world_size": run.args.world_size} if run.args.distributed else {}
    job = {"training_job": job_name()} if job_name() else {}  # the model's version, as the endpoint answers it
    return {
        "architecture": run.args.arch,
        "image_size": run.args.image_size,
        "mean": list(dogbreeds.IMAGENET_MEAN),
        "std": list(dogbreeds.IMAGENET_STD),
        "num_classes": len(run.classes),
        "hyperparameters": hyperparameters_of(run.args),
        "history": run.history,
        "best_epoch": run.best_epoch["epoch"],  # the exported weights are this epoch's
        "skipped_images": run.skipped_images,
        **processes,
        **job,
        **extra,
    }


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True))
