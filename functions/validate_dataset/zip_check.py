"""Validate a dataset zip from its central directory alone, through a ranged reader (no download).

Python's zipfile reads only the end-of-central-directory record and the central directory when it
opens an archive, so it runs here over a file-like object whose reads are ranged GETs. Checks: it is a
zip; no absolute paths, ``..``, symlinks or encrypted entries; bounded entry count, total size and
compression ratio (zip bombs); train/valid/test under an optional wrapper folder; the same classes in
every split; every class holds images. The result is a small manifest.
"""

import hashlib
import io
import posixpath
import stat
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

SPLITS = ("train", "valid", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IGNORED_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class Limits:
    max_entries: int = 200_000
    max_total_bytes: int = 20 * 1024**3
    max_compression_ratio: float = 200.0
    max_central_directory_bytes: int = 64 * 1024**2


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
    parts = name.split("/")
    return any(part in IGNORED_PARTS or part.startswith(".") for part in parts if part)


def check_entry(info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise InvalidDataset(f"entry {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise InvalidDataset(f"entry {name!r} points outside the archive (..)")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidDataset(f"entry {name!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise InvalidDataset(f"entry {name!r} is encrypted")
    if info.compress_size and info.file_size / info.compress_size > limits.max_compression_ratio:
        ratio = info.file_size / info.compress_size
        limit = limits.max_compression_ratio
        raise InvalidDataset(f"entry {name!r} expands {ratio:.0f}x (limit {limit:.0f}x): zip bomb?")


def _dataset_root(directories: set[str]) -> str:
    """'' or the one wrapper folder that holds train/valid/test."""
    candidates = {""} | {name.split("/")[0] + "/" for name in directories}
    found = [root for root in sorted(candidates) if all(f"{root}{split}/" in directories for split in SPLITS)]
    if not found:
        raise InvalidDataset("missing train/, valid/ or test/ folder (optionally inside one wrapper folder)")
    return found[0]


def inspect_zip(reader: RangedReader, uri: str, limits: Limits = Limits()) -> dict:
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
    if len(entries) > limits.max_entries:
        raise InvalidDataset(f"{len(entries)} entries, more than the limit of {limits.max_entries}")
    total = 0
    for info in entries:
        check_entry(info, limits)
        total += info.file_size
    if total > limits.max_total_bytes:
        raise InvalidDataset(f"expands to {total} bytes, more than the limit of {limits.max_total_bytes}")

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
        if len(parts) == 3 and parts[2].lower().endswith(IMAGE_SUFFIXES):
            images[split][folder] += 1
    for name in list(directories):  # class folders that hold nothing at all still count as classes
        parts = name[len(root) :].rstrip("/").split("/") if name.startswith(root) else []
        if len(parts) == 2 and parts[0] in SPLITS:
            classes[parts[0]].add(parts[1])
    if not any(images[split] for split in SPLITS):
        raise InvalidDataset("no .jpg/.jpeg/.png image anywhere in the dataset")
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
            raise InvalidDataset(f"class folder(s) without .jpg/.jpeg/.png images in {split}/: {empty[:5]}")
    return {
        "dataset_uri": uri,
        "root": root,
        "classes": sorted(expected),
        "num_classes": len(expected),
        "images": {split: sum(images[split].values()) for split in SPLITS},
        "uncompressed_bytes": total,
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
