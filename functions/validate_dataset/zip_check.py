"""Validate a dataset zip from its central directory alone, through a ranged reader (no download).

Python's zipfile reads only the end-of-central-directory record and the central directory when it
opens an archive, so it runs here over a file-like object whose reads are ranged GETs. Checks: it is a
zip; no absolute paths, ``..``, symlinks or encrypted entries; bounded entry count, total size and
compression ratio (zip bombs); train/valid/test under an optional wrapper folder; the same classes in
every split; every class holds images. The result is a small manifest.

The rules (splits, image suffixes, ignored names, limits, entry checks) are model_code/dataset_contract.py's,
the module training reads the extracted dataset with: what passes here is what training can read.
"""

import hashlib
import io
import posixpath
import zipfile
from collections import defaultdict
from collections.abc import Callable

from model_code.dataset_contract import (
    IMAGE_KINDS,
    SPLITS,
    ZIP_LIMITS,
    ZipLimits,
    is_ignored,
    is_image_name,
    zip_problem,
)

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a first entry's local header; an empty zip's end record


class InvalidDataset(Exception):
    """The upload is not a usable dataset; the message says why."""


class RangedReader(io.RawIOBase):
    """A seekable, read-only file over ``read_range(start, end_inclusive) -> bytes``; counts bytes fetched."""

    def __init__(self, size: int, read_range: Callable[[int, int], bytes]):
        self.size = size
        self.read_range = read_range
        self.position = 0
        self.bytes_read = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        data = self.read_range(self.position, end - 1)
        self.requests += 1
        self.bytes_read += len(data)
        self.position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _is_ignored(name: str) -> bool:
    return any(is_ignored(part) for part in name.split("/") if part)


def _dataset_root(directories: set[str]) -> str:
    """'' or the one wrapper folder that holds train/valid/test."""
    candidates = {""} | {name.split("/")[0] + "/" for name in directories}
    found = [root for root in sorted(candidates) if all(f"{root}{split}/" in directories for split in SPLITS)]
    if not found:
        raise InvalidDataset("missing train/, valid/ or test/ folder (optionally inside one wrapper folder)")
    return found[0]


def inspect_zip(reader: RangedReader, uri: str, limits: ZipLimits = ZIP_LIMITS) -> dict:
    """The manifest of a valid dataset zip, or InvalidDataset with the first problem found."""
    try:
        archive = zipfile.ZipFile(reader)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        reader.seek(0)
        if reader.read(4) in ZIP_SIGNATURES:  # starts like a zip, but its central directory is gone
            raise InvalidDataset(f"truncated zip (an incomplete upload?): {error}") from error
        raise InvalidDataset("not a zip file: it does not start with a zip signature") from error
    with archive:
        entries = archive.infolist()
    if not entries:
        raise InvalidDataset("the zip is empty")
    problem = zip_problem(entries, limits)
    if problem:
        raise InvalidDataset(problem)

    files = [info for info in entries if not info.is_dir() and not _is_ignored(info.filename)]
    directories = {posixpath.dirname(info.filename.rstrip("/")) + "/" for info in files}
    directories |= {info.filename for info in entries if info.is_dir() and not _is_ignored(info.filename)}
    directories |= {parent for name in list(directories) for parent in _parents(name)}
    root = _dataset_root(directories)
    images: dict[str, dict[str, int]] = {split: defaultdict(int) for split in SPLITS}
    classes: dict[str, set[str]] = {split: set() for split in SPLITS}
    for info in files:
        relative = info.filename[len(root) :]
        parts = relative.split("/")
        if len(parts) < 3 or parts[0] not in SPLITS:
            continue
        split, folder = parts[0], parts[1]
        classes[split].add(folder)
        if len(parts) == 3 and is_image_name(parts[2]):
            images[split][folder] += 1
    for name in list(directories):  # class folders that hold nothing at all still count as classes
        parts = name[len(root) :].rstrip("/").split("/") if name.startswith(root) else []
        if len(parts) == 2 and parts[0] in SPLITS:
            classes[parts[0]].add(parts[1])
    if not any(images[split] for split in SPLITS):
        raise InvalidDataset(f"no {IMAGE_KINDS} image anywhere in the dataset")
    expected = classes["train"]
    if not expected:
        raise InvalidDataset("train/ holds no class folders (expected train/<NNN.Class>/*.jpg)")
    for split in SPLITS[1:]:
        if classes[split] != expected:
            missing, extra = sorted(expected - classes[split]), sorted(classes[split] - expected)
            raise InvalidDataset(f"{split}/ has other classes than train/: missing {missing[:5]}, extra {extra[:5]}")
    for split in SPLITS:
        empty = sorted(folder for folder in expected if images[split][folder] == 0)
        if empty:
            raise InvalidDataset(f"class folder(s) without {IMAGE_KINDS} images in {split}/: {empty[:5]}")
    return {
        "dataset_uri": uri,
        "root": root,
        "classes": sorted(expected),
        "num_classes": len(expected),
        "images": {split: sum(images[split].values()) for split in SPLITS},
        "uncompressed_bytes": sum(info.file_size for info in entries),
        "bytes_read": reader.bytes_read,
        "fingerprint": fingerprint(files),
    }


def fingerprint(files: list[zipfile.ZipInfo]) -> str:
    """The dataset's identity from its central directory (names, CRC-32s and sizes of the files): the same
    images give the same fingerprint however they were zipped, any changed image another one."""
    digest = hashlib.sha256()
    for info in sorted(files, key=lambda entry: entry.filename):
        digest.update(f"{info.filename}\0{info.CRC:08x}\0{info.file_size}\n".encode())
    return digest.hexdigest()[:16]


def _parents(directory: str) -> list[str]:
    parts = directory.rstrip("/").split("/")
    return ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
