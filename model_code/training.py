"""The training loop shared by hpo.py (tuning trials) and train_model.py (the debugged final training).

Shaped like torchvision's references/classification/train.py: one argument parser, train_one_epoch(),
evaluate(), and one stable metric line per epoch (format and regexes in metrics.py).
"""

import argparse
import contextlib
import json
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import dogbreeds
from metrics import TRAIN_LOSS, VALID_ACCURACY, VALID_LOSS, format_metric_line

log = logging.getLogger(__name__)


def _env_path(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def build_parser(description: str) -> argparse.ArgumentParser:
    """Hyperparameters (SageMaker passes them as ``--<key> <value>``) and SageMaker's folders."""
    parser = argparse.ArgumentParser(description=description)
    hp = parser.add_argument_group("hyperparameters")
    hp.add_argument("--lr", type=float, default=1e-3, help="learning rate of the new head")
    hp.add_argument("--batch-size", type=int, default=32)
    hp.add_argument("--epochs", type=int, default=5)
    hp.add_argument("--weight-decay", type=float, default=1e-4)
    hp.add_argument("--fine-tune", choices=dogbreeds.FINE_TUNE_MODES, default="full")
    hp.add_argument(
        "--backbone-lr-factor",
        type=float,
        default=0.1,
        help="backbone learning rate = lr * this (full fine-tune); 1.0 when training from scratch",
    )
    hp.add_argument("--image-size", type=int, default=224)
    hp.add_argument("--weights", default="imagenet", help="imagenet | none | path or s3:// URI of a state_dict")
    hp.add_argument("--crop-scale-min", type=float, default=0.08, help="smallest random-resized-crop area")
    hp.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    hp.add_argument("--workers", type=int, default=dogbreeds.default_workers(), help="DataLoader workers")
    hp.add_argument("--seed", type=int, default=0)
    paths = parser.add_argument_group("folders (SageMaker sets them through SM_* variables)")
    paths.add_argument("--data-dir", default=_env_path("SM_CHANNEL_TRAINING"), help="the training channel")
    paths.add_argument("--model-dir", default=_env_path("SM_MODEL_DIR", "model"))
    paths.add_argument("--output-data-dir", default=_env_path("SM_OUTPUT_DATA_DIR", "output"))
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("--data-dir is required outside SageMaker (SM_CHANNEL_TRAINING is not set)")
    if args.lr < 0 or args.batch_size < 1 or args.epochs < 1 or args.image_size < 16:
        parser.error("lr must be >= 0, batch-size >= 1, epochs >= 1, image-size >= 16")
    if not 0 < args.crop_scale_min <= 1 or not 0 <= args.hflip <= 1:
        parser.error("crop-scale-min must be in (0, 1] and hflip in [0, 1]")
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


def _run_epoch(model, loader, criterion, device, optimizer=None, scaler=None) -> EpochResult:
    """One pass; trains when an optimizer is given. Per-sample averages, no graphs kept alive."""
    training = optimizer is not None
    model.train(training)
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
            batch = len(targets)
            total_loss += loss.item() * batch
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            seen += batch
    if seen == 0:
        raise RuntimeError("no readable image in this split")
    return EpochResult(loss=total_loss / seen, accuracy=correct / seen, samples=seen, skipped=skipped)


def train_one_epoch(model, loader, criterion, optimizer, device, scaler=None) -> EpochResult:
    return _run_epoch(model, loader, criterion, device, optimizer=optimizer, scaler=scaler)


def evaluate(model, loader, criterion, device) -> EpochResult:
    return _run_epoch(model, loader, criterion, device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def make_loader(split: dogbreeds.Split, transform, args, shuffle: bool, device: torch.device) -> DataLoader:
    return DataLoader(
        ImageDataset(split.samples, transform),
        batch_size=args.batch_size,
        shuffle=shuffle,
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
    model: nn.Module
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    history: list[dict] = field(default_factory=list)
    skipped_images: int = 0


def prepare_run(args: argparse.Namespace, work_dir: Path | None = None) -> Run:
    seed_everything(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    root = dogbreeds.prepare_dataset(Path(args.data_dir), work_dir)
    dataset = dogbreeds.discover_dataset(root)
    classes = dataset["train"].classes
    print(
        f"dataset {root}: {len(classes)} classes, "
        + ", ".join(f"{split}={len(dataset[split].samples)}" for split in dogbreeds.SPLITS),
        flush=True,
    )
    train_tf = dogbreeds.train_preset(args.image_size, args.crop_scale_min, args.hflip)
    eval_tf = dogbreeds.eval_preset(args.image_size)
    loaders = {
        "train": make_loader(dataset["train"], train_tf, args, shuffle=True, device=device),
        "valid": make_loader(dataset["valid"], eval_tf, args, shuffle=False, device=device),
        "test": make_loader(dataset["test"], eval_tf, args, shuffle=False, device=device),
    }
    model = dogbreeds.build_model(len(classes), args.weights, args.fine_tune).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    groups = dogbreeds.parameter_groups(model, args.lr, args.backbone_lr_factor, args.weight_decay)
    optimizer = torch.optim.AdamW(groups)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    return Run(
        args=args,
        device=device,
        classes=classes,
        loaders=loaders,
        model=model,
        criterion=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
    )


def fit(
    run: Run,
    start_epoch: int = 1,
    on_phase: Callable[[str], None] = lambda phase: None,
    on_epoch_end: Callable[[Run, int], None] = lambda run, epoch: None,
) -> None:
    """Train, and evaluate on VALIDATION after every epoch (never on test), printing one metric line."""
    for epoch in range(start_epoch, run.args.epochs + 1):
        on_phase("train")
        train = train_one_epoch(run.model, run.loaders["train"], run.criterion, run.optimizer, run.device, run.scaler)
        on_phase("eval")
        valid = evaluate(run.model, run.loaders["valid"], run.criterion, run.device)
        run.scheduler.step()
        # the same unreadable files are skipped every epoch: count them once
        run.skipped_images = max(run.skipped_images, train.skipped + valid.skipped)
        metrics = {TRAIN_LOSS: train.loss, VALID_LOSS: valid.loss, VALID_ACCURACY: valid.accuracy}
        run.history.append({"epoch": epoch, **metrics})
        print(format_metric_line(epoch, **metrics), flush=True)
        on_epoch_end(run, epoch)
    if run.skipped_images:
        print(f"skipped_images={run.skipped_images} (unreadable or truncated files)", flush=True)


def hyperparameters_of(args: argparse.Namespace) -> dict:
    keep = ("lr", "batch_size", "epochs", "weight_decay", "fine_tune", "backbone_lr_factor", "image_size")
    keep += ("weights", "crop_scale_min", "hflip", "seed")
    return {name: getattr(args, name) for name in keep}


def model_metadata(run: Run, **extra) -> dict:
    """What a model folder says about its model (inference.py reads the image size from it)."""
    return {
        "architecture": dogbreeds.ARCHITECTURE,
        "image_size": run.args.image_size,
        "mean": list(dogbreeds.IMAGENET_MEAN),
        "std": list(dogbreeds.IMAGENET_STD),
        "num_classes": len(run.classes),
        "hyperparameters": hyperparameters_of(run.args),
        "history": run.history,
        "skipped_images": run.skipped_images,
        **extra,
    }


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True))
