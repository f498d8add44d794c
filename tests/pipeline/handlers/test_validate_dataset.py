"""ValidateDataset: it reads only byte ranges of the pinned version, and refuses a bad zip with its reason.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import io

import pytest

from tests.support.handler_calls import call
from tests.support.pipeline_steps import load_event
from tests.support.zips import bad_zips, good_zip


class RangeServingS3:
    """head_object + ranged get_object over bytes, and the managed copy, recording every call (nothing else
    is allowed)."""

    def __init__(self, data: bytes):
        self.data = data
        self.calls = []

    def head_object(self, **params):
        self.calls.append(("head_object", params))
        return {"ContentLength": len(self.data)}

    def get_object(self, Range, **params):
        self.calls.append(("get_object", {"Range": Range, **params}))
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        return {"Body": io.BytesIO(self.data[start : end + 1])}

    def copy(self, CopySource, Bucket, Key):
        self.calls.append(("copy", {"CopySource": CopySource, "Bucket": Bucket, "Key": Key}))


@pytest.fixture
def fake_s3(monkeypatch, environment):
    from common import aws

    def install(data: bytes) -> RangeServingS3:
        s3 = RangeServingS3(data)
        monkeypatch.setattr(aws, "client", lambda service: s3)
        return s3

    return install


def test_validate_reads_only_ranges_of_the_pinned_version(fake_s3):
    from validate_dataset import app

    s3 = fake_s3(good_zip())
    manifest = call(app, load_event("validate_dataset"))
    assert manifest["classes"] == ["001.Beagle", "002.Boxer"]
    *reads, (last, copied) = s3.calls
    assert {name for name, _ in reads} == {"head_object", "get_object"}
    assert all(params["VersionId"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" for _, params in reads)
    assert all(params["Range"].startswith("bytes=") for name, params in reads if name == "get_object")
    # the validated version, copied once validation passed, to the run's own key: what the jobs read
    pinned = "jobs/dogImages-4f0c2a9d1e7b3c55/dataset/dogImages.zip"
    assert (last, copied) == (
        "copy",
        {
            "CopySource": {
                "Bucket": "dogbreeds-data",
                "Key": "datasets/dogImages.zip",
                "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            },
            "Bucket": "dogbreeds-data",
            "Key": pinned,
        },
    )
    assert manifest["dataset_uri"] == f"s3://dogbreeds-data/{pinned}"
    assert manifest["uploaded"]["key"] == "datasets/dogImages.zip"


def test_validate_rejects_a_bad_zip_with_its_reason(fake_s3):
    from validate_dataset import app
    from validate_dataset.zip_check import InvalidDataset

    s3 = fake_s3(bad_zips()["path traversal"][0])
    with pytest.raises(InvalidDataset, match="points outside the archive"):
        call(app, load_event("validate_dataset"))
    assert "copy" not in {name for name, _ in s3.calls}  # nothing is written for a bad dataset
