"""Dataset validation: ranged reads of the zip's central directory vs downloading and extracting the zip.

Goal: validation reads <= 1% of the zip's bytes and is >= 20x faster than download + extract.

The zip has the dog dataset's shape: 133 classes, 8,351 images (6,680 train, 835 valid, 836 test) in a
wrapper folder, ~1 GB stored (JPEGs do not compress), in moto's S3 on loopback. Both paths use the same
boto3 S3 client; validation is the ValidateDataset step's own code (s3_range_reader + inspect_zip).
"""

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from benchmarks.common import print_table

SPLIT_SIZES = {"train": 6680, "valid": 835, "test": 836}
CLASSES = 133
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def class_folders() -> list[str]:
    return [f"{index:03d}.Breed_{index:03d}" for index in range(1, CLASSES + 1)]


def write_dog_shaped_zip(path: Path, total_bytes: int) -> int:
    """The dataset's layout with incompressible stand-in JPEGs; returns the number of images."""
    images = sum(SPLIT_SIZES.values())
    size = max(len(JPEG_HEADER), total_bytes // images)
    noise = os.urandom(size * 4)  # slices of one random block: incompressible, and fast to write
    folders = class_folders()
    written = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for split, count in SPLIT_SIZES.items():
            for index in range(count):
                folder = folders[index % CLASSES]
                offset = (written * 7919) % (len(noise) - size)
                body = JPEG_HEADER + noise[offset : offset + size - len(JPEG_HEADER)]
                archive.writestr(f"dogImages/{split}/{folder}/{folder}_{index:05d}.jpg", body)
                written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="the zip's size")
    parser.add_argument("--validations", type=int, default=5)
    parser.add_argument("--downloads", type=int, default=3)
    args = parser.parse_args(argv)

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per ranged GET otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    from common import aws
    from validate_dataset.app import s3_range_reader
    from validate_dataset.zip_check import inspect_zip

    s3 = aws.client("s3")
    bucket, key = "benchmark-datasets", "datasets/dogImages.zip"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            zip_path = Path(scratch) / "dogImages.zip"
            images = write_dog_shaped_zip(zip_path, args.size_mb * 1024 * 1024)
            zip_bytes = zip_path.stat().st_size
            s3.create_bucket(Bucket=bucket)
            s3.upload_file(str(zip_path), bucket, key)
            zip_path.unlink()

            def validate() -> int:
                reader = s3_range_reader(bucket, key, None)
                manifest = inspect_zip(reader, f"s3://{bucket}/{key}")
                assert manifest["num_classes"] == CLASSES and sum(manifest["images"].values()) == images, manifest[
                    "images"
                ]
                return reader.bytes_read

            def download_and_extract() -> int:
                target = Path(scratch) / "download"
                target.mkdir()
                local_zip = target / "dataset.zip"
                s3.download_file(bucket, key, str(local_zip))
                with zipfile.ZipFile(local_zip) as archive:
                    archive.extractall(target / "extracted")
                shutil.rmtree(target)
                return zip_bytes

            results = {}
            for name, method, runs in (
                ("central directory (ranged GETs)", validate, args.validations),
                ("download + extract", download_and_extract, args.downloads),
            ):
                seconds = []
                for _ in range(runs):
                    started = time.perf_counter()
                    bytes_read = method()
                    seconds.append(time.perf_counter() - started)
                results[name] = (statistics.median(seconds), bytes_read)
    finally:
        server.stop()

    slowest = max(seconds for seconds, _ in results.values())
    print_table(
        f"Validating a {zip_bytes / 2**20:.0f} MiB, {images:,}-image zip in moto's S3 "
        "(goal: <= 1% of the bytes, >= 20x faster)",
        ["method", "median s", "bytes read", "% of the zip", "x faster than download"],
        [
            [name, seconds, f"{read:,}", 100 * read / zip_bytes, slowest / seconds]
            for name, (seconds, read) in results.items()
        ],
    )


if __name__ == "__main__":
    main()
