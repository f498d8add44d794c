"""Step 1: validate the uploaded zip with ranged reads of its central directory; output a manifest.

A bad dataset raises InvalidDataset with the reason: the execution fails before any SageMaker job, and
the upload is only ever read (GetObject with a Range and the version that started the run).

A valid one is copied, that exact version, to a key of this run's own (server-side, nothing downloaded):
SageMaker channels name an S3 prefix and cannot pin a version, so the jobs read the copy. An upload that
replaces the zip during the run, or a sibling key sharing its prefix (``x.zip.old``), cannot reach them.
"""

import os
import posixpath

from common import aws
from common.aws import transient_errors
from common.powertools import logger, metrics, step_handler
from validate_dataset.zip_check import InvalidDataset, RangedReader, inspect_zip


def s3_range_reader(bucket: str, key: str, version_id: str | None):
    s3 = aws.client("s3")
    pinned = {"VersionId": version_id} if version_id else {}

    def read_range(start: int, end: int) -> bytes:
        with transient_errors():
            return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}", **pinned)["Body"].read()

    with transient_errors():
        size = s3.head_object(Bucket=bucket, Key=key, **pinned)["ContentLength"]
    return RangedReader(size, read_range)


def pinned_key(jobs_prefix: str, run_id: str, key: str) -> str:
    """Where this run's jobs read the dataset: under the jobs prefix, which never starts a run."""
    return f"{jobs_prefix}{run_id}/dataset/{posixpath.basename(key)}"


def pin_dataset(bucket: str, key: str, version_id: str | None, target_key: str) -> str:
    source = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    with transient_errors():
        aws.client("s3").copy(source, bucket, target_key)  # multipart server-side copy past 5 GB
    return f"s3://{bucket}/{target_key}"


@step_handler
def lambda_handler(event: dict) -> dict:
    dataset = event["dataset"]
    reader = s3_range_reader(dataset["bucket"], dataset["key"], dataset.get("version_id"))
    try:
        manifest = inspect_zip(reader, f"s3://{dataset['bucket']}/{dataset['key']}")
    except InvalidDataset as error:
        logger.warning("invalid dataset", extra={"reason": str(error), "bytes_read": reader.bytes_read})
        metrics.add_metric(name="InvalidDatasets", unit="Count", value=1)
        raise
    target = pinned_key(os.environ["JOBS_PREFIX"], event["run_id"], dataset["key"])
    manifest["dataset_uri"] = pin_dataset(dataset["bucket"], dataset["key"], dataset.get("version_id"), target)
    manifest["uploaded"] = {k: dataset.get(k) for k in ("bucket", "key", "version_id")}
    logger.info("dataset valid", extra={k: manifest[k] for k in ("num_classes", "images", "bytes_read", "dataset_uri")})
    return manifest
