"""Real demo data: scikit-learn's handwritten digits written as a dataset in the dog-breed layout.

``<root>/{train,valid,test}/<NNN.Name>/*.jpg`` (001.Zero ... 010.Nine), a stratified 70/15/15 split with
a fixed seed, images upscaled from 8x8 so the ResNet sees real strokes. Optionally zipped with a
wrapper folder, exactly as a user would upload the dog dataset.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DIGIT_NAMES = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
SPLIT_FRACTIONS = {"train": 0.70, "valid": 0.15, "test": 0.15}


@dataclass(frozen=True)
class HeldOutImage:
    path: Path
    label: str


def class_folder(digit: int) -> str:
    return f"{digit + 1:03d}.{DIGIT_NAMES[digit]}"


def digit_image(pixels: np.ndarray, size: int) -> Image.Image:
    """8x8 values 0-16 -> a white-on-black grayscale image of ``size`` pixels."""
    gray = Image.fromarray((pixels.reshape(8, 8) * (255 / 16)).astype(np.uint8), mode="L")
    return gray.resize((size, size), Image.Resampling.BILINEAR)


def write_digits_dataset(root: Path, image_size: int = 32, seed: int = 0) -> list[HeldOutImage]:
    """Write the split folders under ``root``; returns the test images with their true labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, rest = train_test_split(
        indices, train_size=SPLIT_FRACTIONS["train"], stratify=digits.target, random_state=seed
    )
    valid, test = train_test_split(rest, test_size=0.5, stratify=digits.target[rest], random_state=seed)
    held_out = []
    for split, members in (("train", train), ("valid", valid), ("test", test)):
        for index in sorted(members):
            digit = int(digits.target[index])
            path = Path(root) / split / class_folder(digit) / f"digit_{index:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            digit_image(digits.images[index], image_size).save(path, quality=95)
            if split == "test":
                held_out.append(HeldOutImage(path, DIGIT_NAMES[digit]))
    return held_out


def zip_dataset(root: Path, zip_path: Path, wrapper: str = "digits") -> Path:
    """Zip ``root``'s split folders inside one wrapper folder (like dogImages.zip)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file():
                archive.write(path, f"{wrapper}/{path.relative_to(root).as_posix()}")
    return zip_path
