"""The registry record: what SageMaker can store, and the round trip of what it cannot store as is."""

import botocore.session
import pytest
import regex

from model_code import registry


def _metadata_shape():
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateModelPackage").input_shape.members["CustomerMetadataProperties"]


def test_the_limits_are_botocores():
    shape = _metadata_shape()
    assert shape.metadata["max"] == registry.MAX_ENTRIES
    assert shape.key.metadata["max"] == registry.MAX_KEY_LENGTH
    assert shape.value.metadata["max"] == registry.MAX_VALUE_LENGTH


@pytest.mark.parametrize(
    "value",
    ["s3://bucket/datasets/dogs (copy), v2's.zip", 'Überhund 100% = "best"', "plain/key-1_2.zip", "a\nb"],
)
def test_values_round_trip_and_fit_sagemakers_pattern(value):
    shape = _metadata_shape()
    stored = registry.package_metadata({registry.DATASET_URI: value})
    assert regex.fullmatch(shape.value.metadata["pattern"], stored[registry.DATASET_URI])
    assert regex.fullmatch(shape.key.metadata["pattern"], registry.DATASET_URI)
    assert registry.read_metadata(stored) == {registry.DATASET_URI: value}


def test_numbers_are_written_plainly_and_none_is_left_out():
    assert registry.package_metadata({registry.TEST_ACCURACY: 0.9926, registry.TEST_LOSS: None}) == {
        registry.TEST_ACCURACY: "0.9926"
    }


def test_what_sagemaker_cannot_store_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'dataset.uri' is 300 characters"):
        registry.package_metadata({registry.DATASET_URI: "x" * 300})
    with pytest.raises(ValueError, match=r"key 'hp.\(lr\)'"):
        registry.package_metadata({"hp.(lr)": 1})
    with pytest.raises(ValueError, match="51 model package metadata entries"):
        registry.package_metadata({f"k{index}": index for index in range(51)})


def test_a_version_reads_its_record():
    described = {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/3",
        "ModelPackageVersion": 3,
        "ModelApprovalStatus": registry.APPROVED,
        "CreationTime": "2026-12-04T03:00:00",
        "CustomerMetadataProperties": registry.package_metadata(
            {
                registry.TEST_ACCURACY: 0.9926,
                registry.DATASET_URI: "s3://bucket/datasets/digits.zip",
                registry.DATASET_VERSION: "v-1",
                registry.DATASET_FINGERPRINT: "5d41402abc4b2a76",
            }
        ),
    }
    version = registry.Version.from_described(described)
    assert (version.number, version.test_accuracy, version.fingerprint) == (3, 0.9926, "5d41402abc4b2a76")
    assert version.summary() == "v3 (test accuracy 0.9926, dataset digits.zip@v-1)"
