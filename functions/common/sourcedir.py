"""The model code as SageMaker's ``sourcedir.tar.gz``, uploaded once per content hash.

The Lambdas get the package model_code from a layer; model_code/entry_points.py says what the archive holds
(the package, its requirements and the thin scripts the training toolkit runs). The archive is reproducible
(sorted, no timestamps), so its key changes only when the code does, and ``sam deploy`` alone is enough for
the first run to find it.
"""

import hashlib
import io
import tarfile
from pathlib import Path

from model_code.entry_points import PACKAGE_DIR, sourcedir_files


def build_archive(package_dir: Path = PACKAGE_DIR) -> tuple[str, bytes]:
    """(content hash, tar.gz bytes) of the sourcedir built from ``package_dir``."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        for name, data in sourcedir_files(package_dir).items():
            digest.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:16], buffer.getvalue()


def ensure_uploaded(s3, bucket: str, code_prefix: str, package_dir: Path = PACKAGE_DIR) -> str:
    """The S3 URI of this code's sourcedir.tar.gz, uploading it first if it is not there yet.

    Whether it is there is asked with a listing of that one key: HeadObject on a missing key answers 403,
    not 404, to a role without s3:ListBucket, and the roles may list the code prefix only (s3:prefix).
    """
    content_hash, data = build_archive(package_dir)
    key = f"{code_prefix}sourcedir-{content_hash}.tar.gz"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == key for item in listed):
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/gzip")
    return f"s3://{bucket}/{key}"
