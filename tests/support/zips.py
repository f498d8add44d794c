"""Dataset zips for the tests, good and bad, built in memory; each bad one with the message it must get."""

import io
import stat
import struct
import zipfile

LINK = "dogImages/train/001.Beagle/link.jpg"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


def build(entries: dict[str, bytes], symlinks: tuple[str, ...] = (), encrypted: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    raw = bytearray(buffer.getvalue())
    position = raw.find(b"PK\x01\x02")
    while position != -1:  # central directory headers: flags at +8, name length at +28, name at +46
        name_length = int.from_bytes(raw[position + 28 : position + 30], "little")
        if raw[position + 46 : position + 46 + name_length].decode() in encrypted:
            raw[position + 8] |= 0x1
        position = raw.find(b"PK\x01\x02", position + 46)
    return bytes(raw)


def layout(classes=("001.Beagle", "002.Boxer"), splits=("train", "valid", "test"), root="dogImages/", per_class=2):
    return {
        f"{root}{split}/{folder}/img_{index}.jpg": JPEG
        for split in splits
        for folder in classes
        for index in range(per_class)
    }


def good_zip() -> bytes:
    entries = layout()
    entries["__MACOSX/dogImages/train/001.Beagle/._img_0.jpg"] = b"apple double"
    entries["dogImages/.DS_Store"] = b"junk"
    return build(entries)


def forged_sizes(data: bytes, compressed: int, uncompressed: int) -> bytes:
    """Every central-directory record claims these sizes, as a crafted bomb would (local headers untouched)."""
    forged = bytearray(data)
    start = forged.find(b"PK\x01\x02")
    while start != -1:
        struct.pack_into("<II", forged, start + 20, compressed, uncompressed)
        start = forged.find(b"PK\x01\x02", start + 4)
    return bytes(forged)


def bad_zips() -> dict[str, tuple[bytes, str]]:
    """name -> (zip bytes, the message the validation must give)."""
    good = good_zip()
    mismatched = layout()
    mismatched |= {"dogImages/valid/003.Corgi/a.jpg": JPEG}
    empty_class = layout()
    empty_class = {k: v for k, v in empty_class.items() if not k.startswith("dogImages/test/002.Boxer/")}
    empty_class["dogImages/test/002.Boxer/readme.txt"] = b"no images here"
    no_images = {name.replace(".jpg", ".txt"): b"text" for name in layout()}
    return {
        "not a zip": (b"this is not a zip file at all" * 10, "not a zip file: it does not start with a zip signature"),
        "truncated": (good[: len(good) // 2], "truncated zip (an incomplete upload?)"),
        "empty": (build({}), "the zip is empty"),
        "path traversal": (build(layout() | {"../../evil.jpg": JPEG}), "points outside the archive"),
        "absolute path": (build(layout() | {"/etc/evil.jpg": JPEG}), "absolute path"),
        "symlink": (build(layout() | {LINK: b"/etc/passwd"}, symlinks=(LINK,)), "symbolic link"),
        "encrypted": (build(layout(), encrypted=("dogImages/train/001.Beagle/img_0.jpg",)), "is encrypted"),
        "zip bomb (ratio)": (build(layout() | {"dogImages/bomb.bin": b"\0" * 5_000_000}), "zip bomb"),
        # 12 entries x ~4 GiB at a modest ratio: past the 20 GiB total without tripping the ratio check first
        "zip bomb (total size)": (forged_sizes(build(layout()), 40_000_000, 4_000_000_000), "expands to"),
        "missing split": (build(layout(splits=("train", "valid"))), "missing train/, valid/ or test/"),
        "mismatched classes": (build(mismatched), "valid/ has other classes than train/"),
        "empty class": (build(empty_class), "without .jpg/.jpeg/.png images in test/: ['002.Boxer']"),
        "no images": (build(no_images), "no .jpg/.jpeg/.png image anywhere in the dataset"),
    }
