"""What training and serving share: the dataset layout, class names, image loading, the transform
presets and the model. hpo.py, train_model.py and inference.py all import this module, and
train_model.py ships it inside model.tar.gz (code/model_code/) so the endpoint preprocesses exactly as
training did.
"""

import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from torch import nn
from torchvision import models
from torchvision import transforms as T

from model_code.dataset_contract import (
    IMAGE_KINDS,
    SPLITS,
    ZIP_LIMITS,
    ZipLimits,
    is_ignored,
    is_image_name,
    zip_problem,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ResNets of torchvision: resnet18 is the default (cheapest); resnet34/50 trade cost for accuracy.
ARCHITECTURES = ("resnet18", "resnet34", "resnet50")
DEFAULT_ARCHITECTURE = "resnet18"
FINE_TUNE_MODES = ("full", "frozen")

# Decompression-bomb guard for every image we open (training and serving): PIL raises
# DecompressionBombError above twice this many pixels; check_pixels() refuses anything above it.
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# A truncated file must raise, so it is skipped and counted instead of silently half-decoded.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_CLASS_FOLDER = re.compile(r"^(?:\d+[._-])?(?P<name>.+)$")


class DatasetError(ValueError):
    """The dataset does not have the expected layout or content."""


class ImageTooLargeError(ValueError):
    """An image declares more pixels than MAX_IMAGE_PIXELS."""


# ---------------------------------------------------------------- dataset layout


def class_name_from_folder(folder: str) -> str:
    """``001.Affenpinscher`` -> ``Affenpinscher``; ``042.Cocker_spaniel`` -> ``Cocker spaniel``."""
    name = _CLASS_FOLDER.match(folder).group("name")
    return name.replace("_", " ").strip() or folder


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not is_ignored(p.name))


def is_image_file(path: Path) -> bool:
    return path.is_file() and is_image_name(path.name)


def find_dataset_root(path: Path) -> Path:
    """The folder holding train/valid/test: ``path`` itself or its single wrapper folder."""
    path = Path(path)
    candidates = [path, *_visible_dirs(path)] if path.is_dir() else []
    for candidate in candidates:
        if all((candidate / split).is_dir() for split in SPLITS):
            return candidate
    raise DatasetError(
        f"no {'/'.join(SPLITS)} folders in {path} (expected <root>/{{train,valid,test}}/<NNN.Class>/*.jpg, "
        "optionally inside one wrapper folder)"
    )


@dataclass(frozen=True)
class Split:
    samples: list[tuple[Path, int]]
    classes: list[str]


def discover_dataset(path: Path) -> dict[str, Split]:
    """Every split's (image path, class index) pairs; class order is the sorted folder order.

    All splits must hold the same class folders, each with at least one image.
    """
    root = find_dataset_root(path)
    folders_by_split = {split: [d.name for d in _visible_dirs(root / split)] for split in SPLITS}
    folders = folders_by_split["train"]
    if not folders:
        raise DatasetError(f"{root / 'train'} has no class folders")
    for split, split_folders in folders_by_split.items():
        if split_folders != folders:
            missing = sorted(set(folders) - set(split_folders))
            extra = sorted(set(split_folders) - set(folders))
            raise DatasetError(f"split '{split}' has different classes than 'train' (missing {missing}, extra {extra})")
    classes = [class_name_from_folder(folder) for folder in folders]
    dataset = {}
    for split in SPLITS:
        samples = []
        for index, folder in enumerate(folders):
            images = sorted(p for p in (root / split / folder).iterdir() if is_image_file(p))
            if not images:
                raise DatasetError(f"class folder {split}/{folder} has no {IMAGE_KINDS} images")
            samples += [(image, index) for image in images]
        dataset[split] = Split(samples=samples, classes=classes)
    return dataset


# ---------------------------------------------------------------- zips


def extract_zip_safely(zip_path: Path, target: Path, limits: ZipLimits = ZIP_LIMITS) -> Path:
    """Extract after checking every entry, their count and total size (dataset_contract); returns ``target``."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as error:
        raise DatasetError(f"{zip_path.name} is not a readable zip: {error}") from error
    with archive:
        problem = zip_problem(archive.infolist(), limits)
        if problem:
            raise DatasetError(f"{zip_path.name}: {problem}")
        target.mkdir(parents=True, exist_ok=True)
        archive.extractall(target)
    return target


def prepare_dataset(channel: Path, work_dir: Path | None = None) -> Path:
    """The dataset root inside a training channel holding either the split folders or one zip.

    A zip is extracted beside the channel by default (``/opt/ml/input/data/<channel>-extracted`` in a job):
    on the job's ML storage volume (VolumeSizeInGB), where SageMaker keeps the training data in File mode,
    not on the container's small root disk (/tmp).
    """
    channel = Path(channel)
    zips = sorted(p for p in channel.iterdir() if p.suffix.lower() == ".zip" and p.is_file())
    try:
        return find_dataset_root(channel)
    except DatasetError:
        if len(zips) != 1:
            raise
    work_dir = Path(work_dir or channel.parent / f"{channel.name}-extracted")
    return find_dataset_root(extract_zip_safely(zips[0], work_dir / zips[0].stem))


# ---------------------------------------------------------------- images


def check_pixels(image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(f"image is {width}x{height} pixels, more than the limit of {MAX_IMAGE_PIXELS}")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode (L, I;16, P, RGBA, LA, CMYK, ...) as RGB; transparency over white."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    if image.mode.startswith("I"):
        # 16/32-bit grayscale: scale into 8 bits before converting.
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def load_rgb(source: Path | bytes) -> Image.Image:
    """Open, size-check, fully decode (truncation raises here), turn upright and convert to RGB.

    Phones store a photo as the sensor saw it and record how to turn it in the EXIF Orientation tag: applied
    here, for training and serving alike, so a sideways-stored photo reaches the model as people see it.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else open(source, "rb")  # noqa: SIM115
    with stream, Image.open(stream) as image:
        check_pixels(image)
        image.load()
        return to_rgb(ImageOps.exif_transpose(image))


UNREADABLE_IMAGE_ERRORS = (OSError, UnidentifiedImageError, ImageTooLargeError, Image.DecompressionBombError)


# ---------------------------------------------------------------- transform presets


def train_preset(image_size: int, crop_scale_min: float = 0.08, hflip: float = 0.5) -> T.Compose:
    """Random resized crop + flip (torchvision's classification preset), then ImageNet normalisation."""
    return T.Compose(
        [
            T.RandomResizedCrop(image_size, scale=(crop_scale_min, 1.0), antialias=True),
            T.RandomHorizontalFlip(hflip),
            T.PILToTensor(),
            T.ConvertImageDtype(torch.float),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_preset(image_size: int) -> T.Compose:
    """Resize + center crop: validation, test and the endpoint all use this one."""
    return T.Compose(
        [
            T.Resize(round(image_size * 256 / 224), antialias=True),
            T.CenterCrop(image_size),
            T.PILToTensor(),
            T.ConvertImageDtype(torch.float),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


# ---------------------------------------------------------------- model


def _load_state_dict(location: str) -> dict:
    """A state_dict of the chosen architecture from a local path or an s3:// URI (network-isolated jobs)."""
    if location.startswith("s3://"):
        import boto3  # only needed for this case; the inference container may lack it

        bucket, _, key = location[len("s3://") :].partition("/")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "weights.pth"
            boto3.client("s3").download_file(bucket, key, str(local))
            return torch.load(local, map_location="cpu", weights_only=True)
    return torch.load(location, map_location="cpu", weights_only=True)


def check_architecture(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {arch!r}")
    return arch


def build_model(
    num_classes: int, weights: str = "none", fine_tune: str = "full", arch: str = DEFAULT_ARCHITECTURE
) -> nn.Module:
    """A torchvision ResNet (``arch``) with a new ``num_classes`` head.

    weights: ``imagenet`` (torchvision's best ImageNet weights for ``arch``, downloaded), ``none``, or a
    path / s3:// URI of a state_dict of the same architecture. fine_tune: ``full`` trains everything,
    ``frozen`` only the head.
    """
    check_architecture(arch)
    if fine_tune not in FINE_TUNE_MODES:
        raise ValueError(f"fine_tune must be one of {FINE_TUNE_MODES}, got {fine_tune!r}")
    model = models.get_model(arch, weights="DEFAULT" if weights == "imagenet" else None)
    if weights not in ("imagenet", "none"):
        state = _load_state_dict(weights)
        state = {key: value for key, value in state.items() if not key.startswith("fc.")}
        model.load_state_dict(state, strict=False)
    if fine_tune == "frozen":
        for parameter in model.parameters():
            parameter.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def set_training_mode(model: nn.Module, training: bool) -> None:
    """``model.train(training)``, except that BatchNorm layers whose parameters are frozen stay in eval mode:
    a frozen backbone keeps the running statistics it was pretrained with (torchvision's fine-tuning advice)."""
    model.train(training)
    if training:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()
            ):
                module.eval()


def parameter_groups(
    model: nn.Module, lr: float, backbone_lr_factor: float, weight_decay: float, norm_weight_decay: float = 0.0
) -> list[dict]:
    """The head at ``lr``, a trainable backbone at ``lr * backbone_lr_factor``; within each, normalisation
    weights and all biases decay by ``norm_weight_decay`` (0 in torchvision's recipes), the rest by ``weight_decay``."""
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
    norm_ids = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters(recurse=False)}
    head_ids = {id(p) for p in model.fc.parameters()}
    groups = []
    for is_head, part_lr in ((True, lr), (False, lr * backbone_lr_factor)):
        decayed, exempt = [], []
        for name, parameter in model.named_parameters():
            if parameter.requires_grad and (id(parameter) in head_ids) == is_head:
                no_decay = id(parameter) in norm_ids or name.endswith(".bias")
                (exempt if no_decay else decayed).append(parameter)
        for params, decay in ((decayed, weight_decay), (exempt, norm_weight_decay)):
            if params:
                groups.append({"params": params, "lr": part_lr, "weight_decay": decay})
    return groups


# ---------------------------------------------------------------- artifacts

MODEL_FILE = "model.pth"
CLASSES_FILE = "classes.json"
METADATA_FILE = "metadata.json"


def save_artifacts(model_dir: Path, model: nn.Module, classes: list[str], metadata: dict) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), model_dir / MODEL_FILE)
    (model_dir / CLASSES_FILE).write_text(json.dumps(classes, indent=1))
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=1, sort_keys=True))


def load_artifacts(model_dir: Path, device: str = "cpu") -> tuple[nn.Module, list[str], dict]:
    model_dir = Path(model_dir)
    classes = json.loads((model_dir / CLASSES_FILE).read_text())
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    model = build_model(len(classes), weights="none", arch=metadata.get("architecture", DEFAULT_ARCHITECTURE))
    state = torch.load(model_dir / MODEL_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), classes, metadata


def default_workers() -> int:
    """DataLoader workers: leave a core for the training loop itself."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))
