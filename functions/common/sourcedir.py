"""The model code as SageMaker's ``sourcedir.tar.gz``, uploaded once per content hash.

The Lambdas get model_code/ from a layer (importable as the package ``model_code``); the same files are
the training jobs' source directory. The archive is reproducible (sorted, no timestamps), so its key
changes only when the code does, and ``sam deploy`` alone is enough for the first run to find it.
"""

import hashlib
import io
import tarfile
from pathlib import Path

import model_code.metrics

MODEL_CODE_DIR = Path(model_code.metrics.__file__).resolve().parent
SHIPPED_PATTERNS = ("*.py", "requirements.txt")


def source_files(folder: Path) -> list[Path]:
    files = sorted({path for pattern in SHIPPED_PATTERNS for path in folder.glob(pattern) if path.is_file()})
    if not any(path.name == "hpo.py" for path in files):
        raise FileNotFoundError(f"no model code (hpo.py) in {folder}")
    return files


def build_archive(folder: Path) -> tuple[str, bytes]:
    """(content hash, tar.gz bytes) of the shipped files."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        for path in source_files(folder):
            data = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(path.name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return digest.hexdigest()[:16], buffer.getvalue()


def ensure_uploaded(s3, bucket: str, code_prefix: str, folder: Path | None = None) -> str:
    """The S3 URI of this code's sourcedir.tar.gz, uploading it first if it is not there yet.

    Whether it is there is asked with a listing of that one key: HeadObject on a missing key answers 403,
    not 404, to a role without s3:ListBucket, and the roles may list the code prefix only (s3:prefix).
    """
    content_hash, data = build_archive(folder or MODEL_CODE_DIR)
    key = f"{code_prefix}sourcedir-{content_hash}.tar.gz"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == key for item in listed):
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/gzip")
    return f"s3://{bucket}/{key}"
