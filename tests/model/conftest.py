"""Tiny datasets in the dog-breed layout, with the awkward files real uploads contain."""

import io
import random
import zipfile
from pathlib import Path

import pytest
from PIL import Image

COLOURS = {"001.Red_setter": (200, 30, 30), "002.Green_thing": (30, 180, 40), "003.Blue_heeler": (40, 60, 210)}
PER_SPLIT = {"train": 16, "valid": 6, "test": 6}


def noisy_image(colour: tuple[int, int, int], seed: int, size: int = 24) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), colour)
    pixels = image.load()
    for x in range(size):
        for y in range(size):
            pixels[x, y] = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in colour)
    return image


EXIF_ORIENTATION = 0x0112
ROTATE_90_CW_TO_DISPLAY = 6  # the EXIF Orientation a phone writes for a portrait shot held upright


def sideways_jpeg(upright: Image.Image, quality: int = 95) -> bytes:
    """A JPEG as a phone stores a portrait photo: pixels turned a quarter counter-clockwise, and the EXIF
    Orientation tag telling viewers to turn them back."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW_TO_DISPLAY
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


def write_colour_dataset(root: Path, wrapper: str | None = "dogImages") -> Path:
    """Three colour 'breeds'; returns the dataset root (inside the wrapper folder when given)."""
    base = root / wrapper if wrapper else root
    seed = 0
    for split, count in PER_SPLIT.items():
        for folder, colour in COLOURS.items():
            target = base / split / folder
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                seed += 1
                suffix = ".JPG" if index % 3 == 0 else (".png" if index % 3 == 1 else ".jpeg")
                noisy_image(colour, seed).save(target / f"img_{index}{suffix}")
    return base


@pytest.fixture
def colour_dataset(tmp_path) -> Path:
    return write_colour_dataset(tmp_path / "data")


@pytest.fixture
def messy_dataset(tmp_path) -> Path:
    """Wrapper folder, __MACOSX and dot-files, a truncated JPEG, a grayscale image, a text file."""
    base = write_colour_dataset(tmp_path / "data")
    train_red = base / "train" / "001.Red_setter"
    good = (train_red / "img_0.JPG").read_bytes()
    (train_red / "truncated.jpg").write_bytes(good[: len(good) // 2])
    noisy_image((200, 30, 30), 99).convert("L").save(train_red / "gray.jpg")
    (train_red / "notes.txt").write_text("not an image")
    (train_red / "._img_0.JPG").write_bytes(b"\x00\x05\x16\x07 apple double")
    macosx = tmp_path / "data" / "__MACOSX" / "dogImages" / "train"
    macosx.mkdir(parents=True)
    (macosx / "._junk.jpg").write_bytes(b"junk")
    (base / ".DS_Store").write_bytes(b"junk")
    return tmp_path / "data"


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return zip_path
