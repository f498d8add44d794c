"""The local SageMaker's model registry (local_twin/sagemaker/registry.py): versions, idempotent creates, listings,
the limits AWS checks and botocore does not, CreateModel from a package, and the state-change event."""

import io
import json
import tarfile

import botocore.session
import pytest
from botocore.exceptions import ClientError

from local_twin.account import ACCOUNT_ID
from local_twin.moto_stack import client
from local_twin.sagemaker import LocalSageMaker
from local_twin.sagemaker.registry import OPERATIONS
from tests.support.local_sagemaker import BUCKET, INFERENCE, ROLE, wait

pytestmark = pytest.mark.enable_socket  # a local SageMaker on loopback, its endpoints' S3 on a moto server

ARN_PREFIX = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}"
MODEL_KEY = "registry/model.tar.gz"
CONTAINER = {"Image": "inference", "ModelDataUrl": f"s3://{BUCKET}/{MODEL_KEY}", "Environment": {"LOG_LEVEL": "20"}}
INFERENCE_SPECIFICATION = {
    "Containers": [CONTAINER],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}


@pytest.fixture(scope="module")
def registry(moto_url, tmp_path_factory):
    """A local SageMaker whose events are recorded (the twin's go to EventBridge: see the last test)."""
    events: list[dict] = []
    service = LocalSageMaker(tmp_path_factory.mktemp("registry"), moto_url, emit_event=events.append)
    service.start()
    yield service, client("sagemaker", service.url, "us-east-1"), events
    service.stop()


def error_of(call) -> dict:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]


def register(sagemaker, group: str, **extra) -> str:
    request = {"ModelPackageGroupName": group, "InferenceSpecification": INFERENCE_SPECIFICATION} | extra
    return sagemaker.create_model_package(**request)["ModelPackageArn"]


def test_versions_count_per_group_and_describe_finds_them_by_arn_name_or_group_slash_version(registry):
    _, sagemaker, _ = registry
    group_arn = sagemaker.create_model_package_group(
        ModelPackageGroupName="Reg-Versions", ModelPackageGroupDescription="versions"
    )["ModelPackageGroupArn"]
    assert group_arn == f"{ARN_PREFIX}:model-package-group/reg-versions"  # SageMaker's ARNs: names in lower case
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-other")
    first = register(sagemaker, "Reg-Versions", ModelApprovalStatus="Approved")
    other = register(sagemaker, group_arn.replace("reg-versions", "reg-other"))  # a group named by its ARN
    second = register(
        sagemaker, group_arn, ModelPackageDescription="second (v2)", MetadataProperties={"ProjectId": "twin"},
        CustomerMetadataProperties={"run.id": "run-2", "dataset.uri": "s3://bucket/digits.zip"},
    )  # fmt: skip
    assert first == f"{ARN_PREFIX}:model-package/reg-versions/1"
    assert second == f"{ARN_PREFIX}:model-package/reg-versions/2"
    assert other == f"{ARN_PREFIX}:model-package/reg-other/1"

    for reference in (second, "Reg-Versions/2", "reg-versions/2"):
        described = sagemaker.describe_model_package(ModelPackageName=reference)
        assert described["ModelPackageArn"] == second and described["ModelPackageVersion"] == 2
    assert described["ModelPackageGroupName"] == described["ModelPackageName"] == "Reg-Versions"
    assert described["ModelPackageStatus"] == "Completed"
    assert described["ModelPackageStatusDetails"] == {"ValidationStatuses": [], "ImageScanStatuses": []}
    assert described["ModelApprovalStatus"] == "PendingManualApproval"  # the twin's default (docs/local_twin.md)
    assert described["InferenceSpecification"] == INFERENCE_SPECIFICATION
    assert described["CustomerMetadataProperties"] == {"run.id": "run-2", "dataset.uri": "s3://bucket/digits.zip"}
    assert described["MetadataProperties"] == {"ProjectId": "twin"}
    assert described["ModelPackageDescription"] == "second (v2)"
    assert described["CreationTime"] == described["LastModifiedTime"]
    assert sagemaker.describe_model_package(ModelPackageName=first)["ModelApprovalStatus"] == "Approved"

    group = sagemaker.describe_model_package_group(ModelPackageGroupName=group_arn)
    assert (group["ModelPackageGroupName"], group["ModelPackageGroupStatus"]) == ("Reg-Versions", "Completed")
    assert group["ModelPackageGroupDescription"] == "versions"

    missing = error_of(lambda: sagemaker.describe_model_package(ModelPackageName="reg-versions/3"))
    assert (missing["Code"], missing["Message"]) == (
        "ValidationException",
        "Model Package reg-versions/3 does not exist.",
    )
    error = error_of(lambda: register(sagemaker, "reg-nowhere"))
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "Model Package Group reg-nowhere does not exist.",
    )
    error = error_of(lambda: sagemaker.create_model_package(ModelPackageName="unversioned"))
    assert error["Code"] == "ValidationException" and "versioned model packages only" in error["Message"]
    error = error_of(lambda: sagemaker.create_model_package_group(ModelPackageGroupName="reg-other"))
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f"Model Package Group already exists: {ARN_PREFIX}:model-package-group/reg-other"


def test_the_same_client_token_answers_the_same_package_and_creates_nothing(registry):
    service, sagemaker, events = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-tokens")
    before = len(events)
    first = register(sagemaker, "reg-tokens", ClientToken="run-1-token")
    assert register(sagemaker, "reg-tokens", ClientToken="run-1-token") == first
    assert register(sagemaker, "reg-tokens", ClientToken="run-2-token") == f"{ARN_PREFIX}:model-package/reg-tokens/2"
    assert register(sagemaker, "reg-tokens") == f"{ARN_PREFIX}:model-package/reg-tokens/3"  # boto3 fills a token
    assert sorted(service.registry.group("reg-tokens").versions) == [1, 2, 3]
    assert len(events) == before + 3  # one per package made, none for the retry


def test_listings_filter_sort_and_page_with_summary_fields_only(registry):
    _, sagemaker, _ = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-list")
    approvals = ["Approved", "Rejected", "Approved", "PendingManualApproval", "Approved"]
    arns = [register(sagemaker, "reg-list", ModelApprovalStatus=approval,
                     CustomerMetadataProperties={"k": "v"}) for approval in approvals]  # fmt: skip

    def listed(**params) -> list[str]:
        paginator = sagemaker.get_paginator("list_model_packages")
        pages = paginator.paginate(ModelPackageGroupName="reg-list", PaginationConfig={"PageSize": 2}, **params)
        return [summary["ModelPackageArn"] for page in pages for summary in page["ModelPackageSummaryList"]]

    assert listed() == arns  # CreationTime, Ascending: AWS's defaults
    assert listed(ModelPackageType="Versioned", SortOrder="Descending") == arns[::-1]
    assert listed(ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending") == [
        arns[4], arns[2], arns[0]]  # fmt: skip
    assert listed(ModelApprovalStatus="Rejected") == [arns[1]]
    first_page = sagemaker.list_model_packages(ModelPackageGroupName="reg-list", MaxResults=2)
    assert len(first_page["ModelPackageSummaryList"]) == 2 and first_page["NextToken"]
    # without a group and a type, AWS's documented default (Unversioned) lists none of the versions
    assert sagemaker.list_model_packages()["ModelPackageSummaryList"] == []
    every = sagemaker.list_model_packages(ModelPackageType="Both", NameContains="reg-lis", MaxResults=100)
    assert [s["ModelPackageArn"] for s in every["ModelPackageSummaryList"]] == arns
    by_name = sagemaker.list_model_packages(ModelPackageType="Versioned", SortBy="Name", MaxResults=100)
    names = [(s["ModelPackageGroupName"], s["ModelPackageVersion"]) for s in by_name["ModelPackageSummaryList"]]
    assert names == sorted(names)

    summary_fields = botocore.session.get_session().get_service_model("sagemaker").shape_for("ModelPackageSummary")
    summary = first_page["ModelPackageSummaryList"][0]
    assert set(summary) <= set(summary_fields.members)  # no metadata, no metrics (boto/boto3#2914)
    assert "CustomerMetadataProperties" not in summary and summary["ModelApprovalStatus"] == "Approved"


def test_updates_change_the_approval_and_merge_the_metadata(registry):
    _, sagemaker, events = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-update")
    arn = register(sagemaker, "reg-update", CustomerMetadataProperties={"keep": "1", "drop": "2", "change": "3"})
    created = sagemaker.describe_model_package(ModelPackageName=arn)
    before = len(events)
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="auto: gate passed (0.99 >= 0.9)",
        CustomerMetadataProperties={"change": "4", "serving.since": "2026-12-04T03:00:00Z"},
        CustomerMetadataPropertiesToRemove=["drop"],
    )  # fmt: skip
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "auto: gate passed (0.99 >= 0.9)"
    assert described["CustomerMetadataProperties"] == {
        "keep": "1",
        "change": "4",
        "serving.since": "2026-12-04T03:00:00Z",
    }
    assert described["LastModifiedTime"] >= created["LastModifiedTime"]
    assert len(events) == before + 1
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "same approval"})
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert len(events) == before + 1  # only a change of the approval sends the event

    # the ARN, not a name: botocore's pattern refuses a name before it is sent; the twin refuses an unknown ARN
    error = error_of(lambda: sagemaker.update_model_package(ModelPackageArn=f"{ARN_PREFIX}:model-package/reg-update/9"))
    assert error["Code"] == "ValidationException" and "does not exist" in error["Message"]
    error = error_of(lambda: sagemaker.update_model_package(ModelPackageArn=arn, SourceUri="s3://b/k"))
    assert error["Code"] == "ValidationException" and "SourceUri is not modelled" in error["Message"]
    too_many = {f"key{index}": "v" for index in range(48)}
    error = error_of(lambda: sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties=too_many))
    assert error["Message"] == "CustomerMetadataProperties would hold 52 entries; the maximum is 50."


def test_the_limits_botocore_leaves_to_aws_are_refused_with_aws_shaped_messages(registry):
    service, sagemaker, _ = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-limits")
    pattern = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}"  # botocore's CustomerMetadataValue

    def refused(**extra) -> str:
        error = error_of(lambda: register(sagemaker, "reg-limits", **extra))
        assert error["Code"] == "ValidationException"
        return error["Message"]

    assert refused(CustomerMetadataProperties={"gate.reason": "rejected (0.5 < 0.9)"}) == (
        "1 validation error detected: Value '{gate.reason=rejected (0.5 < 0.9)}' at 'customerMetadataProperties' "
        f"failed to satisfy constraint: Map value must satisfy constraint: [Member must satisfy regular expression "
        f"pattern: {pattern}]"
    )
    assert refused(CustomerMetadataProperties={"k": "v" * 257}).endswith(
        "Map value must satisfy constraint: [Member must have length less than or equal to 256]"
    )
    assert "Map keys must satisfy constraint: [Member must have length less than or equal to 128]" in refused(
        CustomerMetadataProperties={"k" * 129: "v"}
    )
    assert refused(CustomerMetadataProperties={f"k{index}": "v" for index in range(51)}).endswith(
        "at 'customerMetadataProperties' failed to satisfy constraint: Member must have length less than or equal to 50"
    )
    message = refused(ModelPackageDescription="d" * 1025, InferenceSpecification={
        "Containers": [{"Image": "i" * 256}]})  # fmt: skip
    assert message.startswith("2 validation errors detected: Value 'ddd")
    assert "at 'modelPackageDescription' failed to satisfy constraint: Member must have length less than or " in message
    assert "at 'inferenceSpecification.containers.1.member.image' failed to satisfy constraint: Member must have " in (
        message
    )
    assert "Value 'é ü ok' at" not in refused(
        ModelPackageDescription="x" * 1025, CustomerMetadataProperties={"name": "é ü ok"}
    )  # letters and spaces of any script are allowed
    error = error_of(lambda: sagemaker.update_model_package(
        ModelPackageArn=f"{ARN_PREFIX}:model-package/reg-limits/1", ApprovalDescription="a" * 1025))  # fmt: skip
    assert "at 'approvalDescription' failed to satisfy constraint" in error["Message"]
    assert service.registry.group("reg-limits").versions == {}  # nothing refused was stored
    assert set(OPERATIONS) <= set(service.model.operation_names)


def test_a_group_with_versions_cannot_be_deleted(registry):
    _, sagemaker, _ = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-delete")
    arn = register(sagemaker, "reg-delete")
    error = error_of(lambda: sagemaker.delete_model_package_group(ModelPackageGroupName="reg-delete"))
    assert error["Code"] == "ConflictException" and "still has model packages [1]" in error["Message"]
    sagemaker.delete_model_package(ModelPackageName=arn)
    assert "does not exist" in error_of(lambda: sagemaker.describe_model_package(ModelPackageName=arn))["Message"]
    sagemaker.delete_model_package_group(ModelPackageGroupName="reg-delete")
    error = error_of(lambda: sagemaker.describe_model_package_group(ModelPackageGroupName="reg-delete"))
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "Model Package Group reg-delete does not exist.",
    )


def model_archive() -> bytes:
    """A model.tar.gz the test kit's inference code serves: weights.json and code/inference.py."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("weights.json", json.dumps({"lr": 0.5})), ("code/inference.py", INFERENCE)):
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


@pytest.mark.slow
def test_a_model_made_from_a_package_serves_it_once_approved(registry, moto_url):
    _, sagemaker, _ = registry
    client("s3", moto_url, "us-east-1").put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=model_archive())
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-serve")
    arn = register(sagemaker, "reg-serve", ModelApprovalStatus="PendingManualApproval")
    from_package = {"ModelPackageName": arn}

    error = error_of(lambda: sagemaker.create_model(ModelName="reg-pending", ExecutionRoleArn=ROLE,
                                                    PrimaryContainer=from_package))  # fmt: skip
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"Model Package {arn} is PendingManualApproval: its ModelApprovalStatus must be set to Approved to deploy "
        "the model."
    )
    unknown = {"ModelPackageName": f"{ARN_PREFIX}:model-package/reg-serve/7"}
    error = error_of(lambda: sagemaker.create_model(ModelName="reg-unknown", ExecutionRoleArn=ROLE,
                                                    PrimaryContainer=unknown))  # fmt: skip
    assert error["Code"] == "ValidationException" and "does not exist" in error["Message"]

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sagemaker.create_model(ModelName="reg-approved", ExecutionRoleArn=ROLE, PrimaryContainer=from_package)
    assert sagemaker.describe_model(ModelName="reg-approved")["PrimaryContainer"] == from_package  # as created
    sagemaker.create_endpoint_config(EndpointConfigName="reg-approved", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "reg-approved", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])  # fmt: skip
    sagemaker.create_endpoint(EndpointName="reg-endpoint", EndpointConfigName="reg-approved")
    try:
        described = wait(lambda: sagemaker.describe_endpoint(EndpointName="reg-endpoint"), "EndpointStatus")
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
        runtime = client("sagemaker-runtime", sagemaker.meta.endpoint_url, "us-east-1")
        answer = runtime.invoke_endpoint(EndpointName="reg-endpoint", ContentType="application/json", Body=b'{"x": 1}')
        assert json.loads(answer["Body"].read()) == {"echo": {"x": 1}, "lr": 0.5}  # the package's model data
    finally:
        sagemaker.delete_endpoint(EndpointName="reg-endpoint")


def test_the_state_change_event_carries_the_documented_detail(registry):
    _, sagemaker, events = registry
    sagemaker.create_model_package_group(ModelPackageGroupName="reg-events")
    before = len(events)
    arn = register(sagemaker, "reg-events", ModelApprovalStatus="PendingManualApproval",
                   MetadataProperties={"GeneratedBy": "execution"}, CustomerMetadataProperties={"k": "v"})  # fmt: skip
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    created, rejected = events[before:]
    assert (created["Source"], created["DetailType"]) == ("aws.sagemaker", "SageMaker Model Package State Change")
    assert created["Resources"] == rejected["Resources"] == [arn]
    detail = json.loads(rejected["Detail"])
    assert set(detail) == {
        "ModelPackageGroupName",
        "ModelPackageVersion",
        "ModelPackageArn",
        "CreationTime",
        "InferenceSpecification",
        "ModelPackageStatus",
        "ModelPackageStatusDetails",
        "ModelApprovalStatus",
        "MetadataProperties",
        "LastModifiedTime",
    }  # fmt: skip  (ModelMetrics and CertifyForMarketplace when the package has them)
    assert (detail["ModelPackageGroupName"], detail["ModelPackageVersion"], detail["ModelPackageArn"]) == (
        "reg-events", 1, arn)  # fmt: skip
    assert (json.loads(created["Detail"])["ModelApprovalStatus"], detail["ModelApprovalStatus"]) == (
        "PendingManualApproval", "Rejected")  # fmt: skip
    assert detail["CreationTime"].endswith("Z") and detail["CreationTime"][10] == "T"  # the example's ISO form
