"""Release: an approved or rolled-back version is checked again before the Deploy states serve it.

Through its real Lambda handler, with Stubbed SageMaker answers."""

import datetime

import pytest

from tests.support.handler_calls import ARN, call, described_endpoint
from tests.support.pipeline_steps import load_event

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/3"


def described_package(approval: str = "Approved", group: str = "dogbreeds-models") -> dict:
    return {
        "ModelPackageName": group, "ModelPackageGroupName": group, "ModelPackageVersion": 3,
        "ModelPackageArn": PACKAGE_ARN, "CreationTime": datetime.datetime.now(), "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []}, "ModelApprovalStatus": approval,
        "CustomerMetadataProperties": {"metric.test-accuracy": "0.83", "dataset.uri": "s3://b/datasets/dogs.zip"},
    }  # fmt: skip


def serving(sagemaker, package_arn: str) -> None:
    now = datetime.datetime.now()
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"))
    config = {
        "EndpointConfigName": "old-config", "EndpointConfigArn": ARN.format("endpoint-config"), "CreationTime": now,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "old-model"}],
    }  # fmt: skip
    sagemaker.add_response("describe_endpoint_config", config)
    model = {"ModelName": "old-model", "ModelArn": ARN.format("model"), "CreationTime": now,
             "PrimaryContainer": {"ModelPackageName": package_arn}}  # fmt: skip
    sagemaker.add_response("describe_model", model)


def test_a_release_sets_up_the_run_for_the_deploy_states(stubbed):
    from release import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_model_package", described_package(), {"ModelPackageName": PACKAGE_ARN})
    serving(sagemaker, PACKAGE_ARN.replace("/3", "/2"))
    event = load_event("release")
    result = call(app, event)
    assert result["package"] == {
        "arn": PACKAGE_ARN,
        "version": 3,
        "approval": "Approved",
        "summary": "v3 (test accuracy 0.8300, dataset dogs.zip)",
    }
    assert result["live"] is False and result["run_id"] == event["run_id"] and result["release"] == event["release"]
    assert result["poll"]["max_polls"]["endpoint"] > 0


def test_a_version_already_live_is_not_deployed_again(stubbed):
    from release import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_model_package", described_package())
    serving(sagemaker, PACKAGE_ARN)
    assert call(app, load_event("release"))["live"] is True


@pytest.mark.parametrize(
    ("described", "message"),
    [
        (described_package("Rejected"), "v3 is Rejected: only an Approved version is released"),
        (described_package("PendingManualApproval"), "v3 is PendingManualApproval"),
        (
            described_package(group="other-models"),
            "is not a version of the stack's model package group dogbreeds-models",
        ),
    ],
)
def test_only_an_approved_version_of_the_stacks_group_is_released(stubbed, described, message):
    from release import app

    stubbed("sagemaker").add_response("describe_model_package", described)
    with pytest.raises(app.PackageNotReleasable, match=message):
        call(app, load_event("release"))
