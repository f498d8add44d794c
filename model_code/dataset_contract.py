"""The dataset contract: what an uploaded dataset zip must be for training to read it.

One module, standard library only, read by both sides: the ValidateDataset Lambda (functions/validate_dataset/
zip_check.py, from the ModelCodeLayer) judges an upload from its central directory before any paid job, and
training (dogbreeds.py) reads the extracted folders with the same rules, so the validator refuses exactly what
training cannot read (tests/model/test_dataset_contract.py holds them to that).

The layout: ``[wrapper/]{train,valid,test}/<class folder>/<image>``; the same class folders in every split, each
holding at least one image directly (a deeper file is not read). Hidden names (``.DS_Store``, macOS's
``._photo.jpg``) and macOS's ``__MACOSX`` folder are never read.
"""

import re
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

SPLITS = ("train", "valid", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # matched case-insensitively
IMAGE_KINDS = "/".join(IMAGE_SUFFIXES)  # for messages: ".jpg/.jpeg/.png"
IGNORED_FOLDERS = ("__MACOSX",)  # the resource forks macOS's Archive Utility adds
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    """Zips are refused beyond these (the dog dataset is ~1.1 GB uncompressed, 8,351 files): zip bombs."""

    max_entries: int = 200_000
    max_total_bytes: int = 20 * 1024**3
    max_compression_ratio: float = 200.0


ZIP_LIMITS = ZipLimits()


def is_ignored(name: str) -> bool:
    """A file or folder name training never reads: hidden, or macOS's __MACOSX."""
    return name.startswith(".") or name in IGNORED_FOLDERS


def is_image_name(name: str) -> bool:
    """A file name training opens as an image."""
    return not is_ignored(name) and name.lower().endswith(IMAGE_SUFFIXES)


def zip_entry_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """Why this entry may not be extracted (a path outside the target, a link, encryption, a bomb), or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return f"entry {name!r} has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return f"entry {name!r} points outside the archive (..)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"entry {name!r} is a symbolic link"
    if info.flag_bits & 0x1:
        return f"entry {name!r} is encrypted"
    if info.compress_size and info.file_size / info.compress_size > limits.max_compression_ratio:
        ratio = info.file_size / info.compress_size
        return f"entry {name!r} expands {ratio:.0f}x (limit {limits.max_compression_ratio:.0f}x): zip bomb?"
    return None


def zip_problem(entries: Sequence[zipfile.ZipInfo], limits: ZipLimits) -> str | None:
    """The first reason this archive may not be extracted (its entries, their count, their total size), or None."""
    if len(entries) > limits.max_entries:
        return f"{len(entries)} entries, more than the limit of {limits.max_entries}"
    for info in entries:
        problem = zip_entry_problem(info, limits)
        if problem:
            return problem
    total = sum(info.file_size for info in entries)
    if total > limits.max_total_bytes:
        return f"expands to {total} bytes, more than the limit of {limits.max_total_bytes}"
    return None
