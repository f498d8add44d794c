"""Images and datasets for the tests: tiny colour 'breeds' in the dog-breed layout, photos as phones store them,
and crafted files whose headers declare more pixels than they hold."""

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

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


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return zip_path


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.radial_gradient("L").resize(size).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares width x height (one row of pixel data follows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    row = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(jpeg((8, 8)))
    frame = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def pixel_bombs(limit: int) -> dict[str, tuple[bytes, str, str]]:
    """Tiny files declaring more pixels than ``limit``: (body, content type, the endpoint's message)."""
    height = limit // 8000 + 1
    return {
        "PNG just above the limit": (
            png_declaring(8000, height),
            "image/png",
            f"image is 8000x{height} pixels, more than the limit of {limit}",
        ),
        "JPEG above PIL's bomb limit": (
            jpeg_declaring(65_000, 65_000),
            "image/jpeg",
            f"Image size ({65_000**2} pixels) exceeds limit of {2 * limit} pixels, "
            "could be decompression bomb DOS attack.",
        ),
    }
