"""The validator refuses exactly what training cannot read: each zip below goes through the ValidateDataset
Lambda's check (its central directory) and through training's extraction and discovery (dogbreeds), and both
must accept it, with the same classes and image counts, or both refuse it."""

import io
import stat
import zipfile

import pytest

from model_code import dogbreeds
from validate_dataset.zip_check import InvalidDataset, RangedReader, inspect_zip

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # training opens the files later; the layout is what is judged here
CLASSES = ("001.Beagle", "002.Boxer")


def layout(root: str = "dogImages/", classes=CLASSES, splits=("train", "valid", "test"), image="a.jpg") -> dict:
    return {f"{root}{split}/{folder}/{image}": JPEG for split in splits for folder in classes}


def without(entries: dict, prefix: str) -> dict:
    return {name: data for name, data in entries.items() if not name.startswith(prefix)}


# case -> (entries, symbolic links); each is read by training or refused by both
CASES = {
    "plain, with a wrapper folder": (layout(), ()),
    "no wrapper folder": (layout(root=""), ()),
    "upper-case and .jpeg/.png suffixes": (
        layout(image="A.JPG") | layout(image="b.jpeg") | layout(image="c.PNG"),
        (),
    ),
    "macOS junk beside the images": (
        layout()
        | {"__MACOSX/dogImages/train/001.Beagle/._a.jpg": b"fork", "dogImages/.DS_Store": b"x"}
        | {"dogImages/train/001.Beagle/._b.jpg": b"fork", "dogImages/train/__MACOSX/x.jpg": JPEG},
        (),
    ),
    "a hidden class folder in one split only": (layout() | {"dogImages/train/.cache/a.jpg": JPEG}, ()),
    "text and nested files beside the images": (
        layout() | {"dogImages/train/001.Beagle/notes.txt": b"x", "dogImages/train/001.Beagle/sub/b.jpg": JPEG},
        (),
    ),
    "a class holding only a hidden image": (
        without(layout(), "dogImages/test/002.Boxer/") | {"dogImages/test/002.Boxer/.a.jpg": JPEG},
        (),
    ),
    "a class holding only a suffix training does not open": (
        without(layout(), "dogImages/valid/001.Beagle/") | {"dogImages/valid/001.Beagle/a.gif": JPEG},
        (),
    ),
    "a class holding its images one folder too deep": (
        without(layout(), "dogImages/train/002.Boxer/") | {"dogImages/train/002.Boxer/more/a.jpg": JPEG},
        (),
    ),
    "a class missing from one split": (without(layout(), "dogImages/valid/002.Boxer/"), ()),
    "a class only one split has": (layout() | {"dogImages/test/003.Corgi/a.jpg": JPEG}, ()),
    "a split missing": (layout(splits=("train", "valid")), ()),
    "the dataset inside a hidden folder": (layout(root=".dogImages/"), ()),
    "the dataset two folders deep": (layout(root="upload/dogImages/"), ()),
    "no images at all": (layout(image="a.txt"), ()),
    "a path outside the archive": (layout() | {"../evil.jpg": JPEG}, ()),
    "an absolute path": (layout() | {"/etc/evil.jpg": JPEG}, ()),
    "a drive letter": (layout() | {"C:/evil.jpg": JPEG}, ()),
    "a symbolic link": (layout() | {"dogImages/train/001.Beagle/link.jpg": b"/etc/passwd"}, ("link.jpg",)),
    "a zip bomb": (layout() | {"dogImages/bomb.bin": b"\0" * 2_000_000}, ()),
    "empty": ({}, ()),
}


def zip_of(entries: dict[str, bytes], symlinks: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if symlinks and name.endswith(symlinks):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def validated(data: bytes) -> tuple[list[str], dict[str, int]] | None:
    """The ValidateDataset Lambda's verdict: the classes and image counts, or None when it refuses."""
    try:
        manifest = inspect_zip(RangedReader(len(data), lambda start, end: data[start : end + 1]), "s3://b/d.zip")
    except InvalidDataset:
        return None
    return [dogbreeds.class_name_from_folder(folder) for folder in manifest["classes"]], manifest["images"]


def read_by_training(data: bytes, tmp_path) -> tuple[list[str], dict[str, int]] | None:
    """What training reads of the same zip as a job's channel: the classes and image counts, or None."""
    channel = tmp_path / "training"
    channel.mkdir()
    (channel / "dataset.zip").write_bytes(data)
    try:
        root = dogbreeds.prepare_dataset(channel, tmp_path / "work")
        dataset = dogbreeds.discover_dataset(root)
    except dogbreeds.DatasetError:
        return None
    return dataset["train"].classes, {split: len(found.samples) for split, found in dataset.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_validator_refuses_exactly_what_training_cannot_read(case, tmp_path):
    data = zip_of(*CASES[case])
    assert validated(data) == read_by_training(data, tmp_path), case


def test_the_cases_hold_both_verdicts():
    """Each side accepts some zips and refuses others: the comparison above is not of two constant answers."""
    verdicts = {case: validated(zip_of(*CASES[case])) is not None for case in CASES}
    assert set(verdicts.values()) == {True, False}, verdicts
