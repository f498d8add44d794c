"""Tiny datasets in the dog-breed layout, with the awkward files real uploads contain."""

from pathlib import Path

import pytest

from tests.support.images import noisy_image, write_colour_dataset


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
