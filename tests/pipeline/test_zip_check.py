"""Dataset validation from the central directory: every bad zip rejected with its own message."""

import random

import pytest

from model_code.dataset_contract import ZipLimits
from tests.support.zips import JPEG, bad_zips, build, good_zip, layout
from validate_dataset.zip_check import InvalidDataset, RangedReader, inspect_zip


def reader_over(data: bytes) -> RangedReader:
    return RangedReader(len(data), lambda start, end: data[start : end + 1])


def test_a_good_zip_with_wrapper_and_macosx_passes():
    data = good_zip()
    manifest = inspect_zip(reader_over(data), "s3://b/datasets/dogs.zip")
    assert manifest["classes"] == ["001.Beagle", "002.Boxer"] and manifest["num_classes"] == 2
    assert manifest["images"] == {"train": 4, "valid": 4, "test": 4}
    assert manifest["root"] == "dogImages/" and manifest["dataset_uri"] == "s3://b/datasets/dogs.zip"


def test_only_the_central_directory_is_read():
    photo = JPEG + random.Random(0).randbytes(100_000)  # photos do not compress
    entries = layout(per_class=50) | {f"dogImages/train/001.Beagle/big_{i}.jpg": photo for i in range(20)}
    data = build(entries)
    reader = reader_over(data)
    inspect_zip(reader, "s3://b/d.zip")
    assert reader.bytes_read < 0.02 * len(data), (reader.bytes_read, len(data))
    assert reader.requests <= 4


@pytest.mark.parametrize("case", sorted(bad_zips()))
def test_each_bad_zip_gets_its_own_message(case):
    data, message = bad_zips()[case]
    with pytest.raises(InvalidDataset) as raised:
        inspect_zip(reader_over(data), "s3://b/d.zip")
    assert message in str(raised.value)


def test_no_two_bad_zips_share_a_message():
    messages = {}
    for case, (data, _) in bad_zips().items():
        with pytest.raises(InvalidDataset) as raised:
            inspect_zip(reader_over(data), "s3://b/d.zip")
        messages[case] = str(raised.value).split(":")[0]
    assert len(set(messages.values())) == len(messages), messages


def test_limits_on_entries_and_total_size():
    data = build(layout())
    with pytest.raises(InvalidDataset, match="more than the limit of 5"):
        inspect_zip(reader_over(data), "s3://b/d.zip", ZipLimits(max_entries=5))
    with pytest.raises(InvalidDataset, match="expands to"):
        inspect_zip(reader_over(data), "s3://b/d.zip", ZipLimits(max_total_bytes=100))


def test_ten_thousand_tiny_entries_are_fine():
    entries = layout(per_class=1) | {f"dogImages/train/001.Beagle/t_{i}.jpg": JPEG for i in range(10_000)}
    manifest = inspect_zip(reader_over(build(entries)), "s3://b/d.zip")
    assert manifest["images"]["train"] == 10_002


def test_the_fingerprint_names_the_images_not_the_zip():
    """Warm starts tell the same dataset from another by it: the same images zipped again (in another order)
    match; one changed image does not; junk the jobs ignore does not count."""
    entries = layout()
    fingerprint = inspect_zip(reader_over(build(entries)), "s3://b/a.zip")["fingerprint"]
    reordered = dict(reversed(list(entries.items())))
    assert inspect_zip(reader_over(build(reordered)), "s3://b/b.zip")["fingerprint"] == fingerprint
    assert inspect_zip(reader_over(good_zip()), "s3://b/c.zip")["fingerprint"] == fingerprint  # + __MACOSX, .DS_Store
    changed = entries | {"dogImages/train/001.Beagle/img_0.jpg": JPEG + b"another photo"}
    assert inspect_zip(reader_over(build(changed)), "s3://b/d.zip")["fingerprint"] != fingerprint
