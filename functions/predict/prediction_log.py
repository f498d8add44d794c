"""The sampled prediction log: what the live model was asked and answered, in S3, for `dogbreeds monitor` and Athena.

One JSON object per sampled request (PREDICTION_LOG_SAMPLE_RATE of the answered ones) at
``<PREDICTIONS_PREFIX>records/dt=YYYY-MM-DD/<time>-<request id>.json``: the time, the request id, the endpoint,
variant and model version that answered, and per image its size, format and top-k with probabilities. The images
themselves only when PREDICTION_LOG_IMAGES is true, under ``<PREDICTIONS_PREFIX>images/dt=YYYY-MM-DD/``. The date
folders are the Glue table's partitions (template.yaml: partition projection, so Athena needs no crawler); the
bucket's lifecycle rule expires both after PredictionLogRetentionDays.

A failed write is logged and counted (PredictionLogFailures), never the client's problem.
"""

import json
from datetime import datetime
from functools import cache

import botocore.session
from botocore.config import Config

from predict.endpoint import EndpointAnswer
from predict.request import PredictionRequest, image_content_type

RECORDS, IMAGES = "records/", "images/"
# The write is on the request's path (a frozen Lambda would not finish it later): short waits, S3's usual retries.
S3_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 3})


@cache
def s3_client():
    # botocore's session, not boto3's (as endpoint.py: no s3transfer on the cold start)
    return botocore.session.get_session().create_client("s3", config=S3_CONFIG)


def date_folder(prefix: str, kind: str, when: datetime) -> str:
    return f"{prefix}{kind}dt={when:%Y-%m-%d}/"


def record(request_id: str, when: datetime, request: PredictionRequest, answer: EndpointAnswer, endpoint: str) -> dict:
    return {
        "time": when.isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "endpoint": endpoint,
        "variant": answer.variant,
        "model": answer.model,
        "images": [
            {"bytes": len(image), "format": image_content_type(image).removeprefix("image/"), "top_k": ranking}
            for image, ranking in zip(request.images, answer.predictions, strict=True)
        ],
    }


def write(bucket: str, prefix: str, entry: dict, request: PredictionRequest, with_images: bool, s3=None) -> list[str]:
    """Put the record (and the images, when asked); the keys written."""
    s3 = s3 or s3_client()
    when = datetime.fromisoformat(entry["time"])
    name = f"{when:%H%M%S%f}-{entry['request_id']}"
    keys = []
    if with_images:
        for index, (image, described) in enumerate(zip(request.images, entry["images"], strict=True)):
            key = f"{date_folder(prefix, IMAGES, when)}{name}-{index}.{described['format']}"
            s3.put_object(Bucket=bucket, Key=key, Body=image, ContentType=image_content_type(image))
            described["key"] = key
            keys.append(key)
    key = f"{date_folder(prefix, RECORDS, when)}{name}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(entry).encode(), ContentType="application/json")
    return [key, *keys]
