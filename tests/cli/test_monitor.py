"""`dogbreeds monitor`: the live model's logged answers over a window against the baseline it carries; the drift as
a number per distribution and a picture. S3 is moto's, SageMaker's three reads are Stubbed (checked against
botocore's model)."""

import argparse
import io
import itertools
import json
import tarfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from PIL import Image
from rich.console import Console

from dogbreeds_cli import monitor, target
from dogbreeds_cli.cli import command_monitor
from model_code import monitoring

BUCKET, ENDPOINT, MODEL, VERSION = "data", "dogbreeds-endpoint", "dogbreeds-model-run1", "dogbreeds-train-run1"
BREEDS = ["Beagle", "Boxer", "Pug"]
# the test split's answers: the three breeds alike, mostly confident
BASELINE = monitoring.baseline([0, 0, 0, 1, 2, 3, 4, 10, 20, 60], [33, 33, 34], BREEDS)
SERVING_SINCE = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def archive(metadata: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps(metadata).encode()
        info = tarfile.TarInfo("metadata.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/1"


def stubbed_sagemaker(from_package: bool = False) -> object:
    """The endpoint serves MODEL, made from the model data directly or (``from_package``) from a registered version
    that holds it."""
    client = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(client)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:{}/{}"
    stub.add_response(
        "describe_endpoint",
        {"EndpointName": ENDPOINT, "EndpointArn": arn.format("endpoint", ENDPOINT), "EndpointConfigName": "cfg-run1",
         "EndpointStatus": "InService", "CreationTime": SERVING_SINCE, "LastModifiedTime": SERVING_SINCE},
        {"EndpointName": ENDPOINT},
    )  # fmt: skip
    stub.add_response(
        "describe_endpoint_config",
        {"EndpointConfigName": "cfg-run1", "EndpointConfigArn": arn.format("endpoint-config", "cfg-run1"),
         "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": MODEL}], "CreationTime": SERVING_SINCE},
        {"EndpointConfigName": "cfg-run1"},
    )  # fmt: skip
    model_data = f"s3://{BUCKET}/models/run1/model.tar.gz"
    stub.add_response(
        "describe_model",
        {"ModelName": MODEL, "ModelArn": arn.format("model", MODEL), "CreationTime": SERVING_SINCE,
         "PrimaryContainer": {"ModelPackageName": PACKAGE} if from_package else {"ModelDataUrl": model_data}},
        {"ModelName": MODEL},
    )  # fmt: skip
    if from_package:
        stub.add_response(
            "describe_model_package",
            {"ModelPackageName": "dogbreeds-models", "ModelPackageArn": PACKAGE, "CreationTime": SERVING_SINCE,
             "ModelPackageStatus": "Completed", "ModelPackageStatusDetails": {"ValidationStatuses": []},
             "InferenceSpecification": {"Containers": [{"Image": "pytorch", "ModelDataUrl": model_data}],
                                        "SupportedContentTypes": ["image/jpeg"],
                                        "SupportedResponseMIMETypes": ["application/json"]}},
            {"ModelPackageName": PACKAGE},
        )  # fmt: skip
    stub.activate()
    return client


REQUEST_IDS = itertools.count()


def put_record(s3, when: datetime, answers: list[tuple[str, float]], model: str | None = VERSION) -> None:
    record = {"time": when.isoformat(timespec="milliseconds"), "request_id": f"r{next(REQUEST_IDS)}", "model": model,
              "endpoint": ENDPOINT, "variant": "AllTraffic",
              "images": [{"bytes": 1000, "format": "jpeg", "top_k": [{"label": label, "probability": p}]}
                         for label, p in answers]}  # fmt: skip
    key = f"predictions/records/dt={when:%Y-%m-%d}/{when:%H%M%S%f}-{record['request_id']}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(record).encode())


@pytest.fixture(params=[False, True], ids=["model-data", "package"])
def account(request):
    """The live model made directly from its model data, and (since the registry) from a registered version."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="models/run1/model.tar.gz",
                      Body=archive({"training_job": VERSION, "baseline": BASELINE}))  # fmt: skip
        sagemaker = stubbed_sagemaker(from_package=request.param)
        clients = {"s3": s3, "sagemaker": sagemaker}
        yield s3, target.Target(clients.__getitem__, "arn:sm", "https://api", lambda: "key", ENDPOINT, BUCKET)


def monitored(where, out, hours=24.0) -> tuple[int, str]:
    console = Console(record=True, width=120, force_terminal=False)
    status = command_monitor(argparse.Namespace(hours=hours, out=out), where, console)
    return status, console.export_text()


def test_answers_like_the_test_split_are_stable(account, tmp_path, monkeypatch):
    s3, where = account
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(monitor, "now", lambda: now)
    # a request a minute, the breeds alike, as sure as on the test split (its tenths 0.4 .. 0.9: 1, 1, 1, 3, 6, 18)
    confidences = [0.45, 0.55, 0.65] + [0.75] * 3 + [0.85] * 6 + [0.95] * 18
    for minute, confidence in enumerate(confidences):  # four images a request: 120 in all
        put_record(s3, now - timedelta(minutes=minute), [(BREEDS[(minute + i) % 3], confidence) for i in range(4)])
    put_record(s3, now - timedelta(minutes=5), [("Pug", 0.2)] * 40, model="dogbreeds-train-run0")  # another model
    put_record(s3, now - timedelta(days=2), [("Pug", 0.2)] * 40)  # outside the window
    status, text = monitored(where, tmp_path)
    assert status == 0, text
    assert "120 images in 30 logged requests against 100 test images: stable" in text
    assert "predicted breeds" in text and "0.0" in text


def test_a_one_breed_stream_is_a_major_shift_with_its_number_and_picture(account, tmp_path, monkeypatch):
    s3, where = account
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(monitor, "now", lambda: now)
    for minute in range(30):
        put_record(s3, now - timedelta(minutes=minute), [("Pug", 0.55)] * 4)
    status, text = monitored(where, tmp_path)
    assert status == 1, text
    expected = monitoring.population_stability_index([33, 33, 34], [0, 0, 120])
    assert f"{expected:.3f}" in text and "major shift" in text
    with Image.open(tmp_path / monitor.MONITOR_PLOT) as plot:
        plot.verify()
        assert plot.format == "PNG" and plot.size[0] >= 1000


def test_a_window_without_answers_is_said_in_words(account, tmp_path, monkeypatch):
    _, where = account
    monkeypatch.setattr(monitor, "now", lambda: datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    with pytest.raises(target.TargetError, match="no answer of the live model in this window"):
        monitored(where, tmp_path)


def test_a_small_window_gets_no_verdict(account, tmp_path, monkeypatch):
    s3, where = account
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(monitor, "now", lambda: now)
    for minute in range(30):  # 30 images of one breed: a shift, or chance?
        put_record(s3, now - timedelta(minutes=minute), [("Pug", 0.55)])
    status, text = monitored(where, tmp_path)
    assert status == 0, text
    assert f"30 images in 30 logged requests against 100 test images: {monitoring.TOO_FEW}" in text


def test_the_breeds_are_compared_as_the_most_predicted_ones_and_the_rest():
    baseline = {f"breed{index:03d}": 10 for index in range(133)} | {"breed000": 50}
    live = {"breed000": 7, "breed100": 3, "unseen": 1}
    groups = monitoring.grouped_classes(baseline, live)
    assert len(groups) == monitoring.CLASS_GROUPS + 1 and groups["breed000"] == (50, 7)
    kept = set(groups) - {monitoring.OTHER}
    assert groups[monitoring.OTHER] == (sum(v for k, v in baseline.items() if k not in kept), 3 + 1)


def test_without_a_version_only_records_written_while_the_model_served_count():
    model = monitor.LiveModel(ENDPOINT, MODEL, None, SERVING_SINCE, BASELINE)
    before = {"time": (SERVING_SINCE - timedelta(minutes=1)).isoformat(), "model": None,
              "images": [{"top_k": [{"label": "Pug", "probability": 0.9}]}]}  # fmt: skip
    after = before | {"time": (SERVING_SINCE + timedelta(minutes=1)).isoformat()}
    other = after | {"model": "dogbreeds-train-run0"}
    assert monitor.drift(model, [before, after, other]).images == 1


def test_the_metadata_is_read_from_a_streamed_archive_whatever_its_member_names():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (
            ("./model.pth", b"weights" * 1000),
            ("./metadata.json", json.dumps({"baseline": 1}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    assert monitor.read_metadata(buffer, "s3://b/model.tar.gz") == {"baseline": 1}
    with pytest.raises(monitor.NoBaseline, match=r"has no metadata\.json"):
        monitor.read_metadata(io.BytesIO(_empty_archive()), "s3://b/empty.tar.gz")


def _empty_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz"):
        pass
    return buffer.getvalue()
