"""Training throughput: train_model.py's epoch (real JPEGs through its DataLoader) vs the ceiling of the
same model on tensors already in memory, and vs a loop in the style of the original course code.

Goals: >= 0.90 of the in-memory ceiling; >= 1.3x the course-style loop at the same accuracy.
Same batch size, image size and torch threads in every column; medians of several epochs.
On a CUDA device (the default when one is present) train_model.py and the ceiling run as train_model.py
does there, with AMP and channels_last; the course-style loop stays in fp32, as the course code was.
"""

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.common import median, print_table


def course_style_epoch(model, dataset_root: Path, image_size: int, batch_size: int, optimizer, criterion, device):
    """The original notebook's loop: ImageFolder + PIL per sample in the main process, a print per batch."""
    import torch
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.Resize((image_size, image_size)),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(dataset_root / "train", transform), batch_size=batch_size, shuffle=True
    )
    model.train()
    started = time.perf_counter()
    seen = 0
    running_loss = 0.0
    for batch, (images, targets) in enumerate(loader):
        images, targets = images.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * len(targets)
        seen += len(targets)
        print(f"batch {batch} loss {loss.item():.4f}")
    return seen / (time.perf_counter() - started)  # loss.item() waited for the device every batch


def accuracy(model, loader, device) -> float:
    import torch

    from model_code import training

    return training.evaluate(model, loader, torch.nn.CrossEntropyLoss(), device).accuracy


def synchronize(device) -> None:
    """Wait for queued kernels, so that a timer stopped after this measures finished work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per column (median reported)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--jpeg-size",
        type=int,
        default=None,
        help="side of the JPEGs on disk (default: the training size; 448 is about a dog photo's pixel count)",
    )
    args = parser.parse_args(argv)

    import torch

    from local_twin.digits import write_digits_dataset
    from model_code import dogbreeds, training

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    on_cuda = device.type == "cuda"
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_digits_dataset(root, image_size=args.jpeg_size or size)
            dataset = dogbreeds.discover_dataset(root)
            options = SimpleNamespace(
                batch_size=args.batch_size, workers=dogbreeds.default_workers(), distributed=False
            )
            train_tf = dogbreeds.train_preset(size, crop_scale_min=0.6, hflip=0.0)
            loader = training.make_loader(dataset["train"], train_tf, options, shuffle=True, device=device)
            valid = training.make_loader(dataset["valid"], dogbreeds.eval_preset(size), options, False, device)
            n_images = len(dataset["train"].samples)

            def fresh(fast: bool = on_cuda):
                """A new model as train_model.py sets it up on this device (fast: channels_last + AMP scaler)."""
                torch.manual_seed(0)
                model = dogbreeds.build_model(10, weights="none").to(device)
                if fast:
                    model = model.to(memory_format=torch.channels_last)
                optimizer = torch.optim.AdamW(dogbreeds.parameter_groups(model, 0.003, 1.0, 1e-4))
                scaler = torch.amp.GradScaler("cuda") if fast else None
                return model, optimizer, torch.nn.CrossEntropyLoss(), scaler

            # Ceiling: the same steps on tensors already on the device.
            model, optimizer, criterion, scaler = fresh()
            images = torch.randn(args.batch_size, 3, size, size, device=device)
            if on_cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            targets = torch.randint(0, 10, (args.batch_size,), device=device)
            steps = -(-n_images // args.batch_size)
            ceiling = []
            for _ in range(args.epochs):
                model.train()
                started = time.perf_counter()
                for _ in range(steps):
                    optimizer.zero_grad(set_to_none=True)
                    with torch.autocast(device.type, enabled=on_cuda):
                        loss = criterion(model(images), targets)
                    if scaler is None:
                        loss.backward()
                        optimizer.step()
                    else:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                synchronize(device)
                ceiling.append(steps * args.batch_size / (time.perf_counter() - started))

            model, optimizer, criterion, scaler = fresh()
            schedule = training.warmup_cosine_schedule(optimizer, len(loader), args.epochs, warmup_epochs=0)
            ours = []
            for _ in range(args.epochs):
                started = time.perf_counter()
                result = training.train_one_epoch(model, loader, criterion, optimizer, schedule, device, scaler)
                synchronize(device)
                ours.append(result.samples / (time.perf_counter() - started))
            ours_accuracy = accuracy(model, valid, device)

            model, optimizer, criterion, _ = fresh(fast=False)
            course = []
            with contextlib.redirect_stdout(io.StringIO()):
                for _ in range(args.epochs):
                    course.append(course_style_epoch(model, root, size, args.batch_size, optimizer, criterion, device))
            course_accuracy = accuracy(model, valid, device)

            rows.append(
                [size, median(ceiling), median(ours), median(course), median(ours) / median(ceiling),
                 median(ours) / median(course), ours_accuracy, course_accuracy]
            )  # fmt: skip
    print_table(
        f"Training throughput, images/s (ResNet18 from scratch, digits as {args.jpeg_size or 'training-size'} px "
        f"JPEGs, batch {args.batch_size}, "
        f"median of {args.epochs} epochs on {device.type}{' with AMP + channels_last' if on_cuda else ''}; "
        "goals: ours/ceiling >= 0.90, ours/course >= 1.3 at the same accuracy)",
        ["px", "ceiling", "train_model.py", "course-style", "ours/ceiling", "ours/course", "acc ours", "acc course"],
        rows,
    )


if __name__ == "__main__":
    main()
