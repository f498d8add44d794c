"""The twin's model registry wiring: the stack's model package group is made on the local SageMaker and named in
`Twin.connection()`, and the registry's state-change events reach the stack's EventBridge as AWS's own (a rule's
target receives an approval). Nothing here trains; tests/local_sagemaker/test_registry.py covers the registry."""

import json

import pytest

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("registry-wiring")) as running:
        yield running


def test_the_stacks_group_is_provisioned_and_named_in_the_connection(twin):
    group = twin.connection()["model_package_group"]
    assert group == f"{twin.template.parameters['SageMakerNamePrefix']}-models"
    described = twin.client("sagemaker").describe_model_package_group(ModelPackageGroupName=group)
    assert described["ModelPackageGroupArn"] == twin.template.physical("ModelPackageGroup").ref
    assert described["ModelPackageGroupDescription"].startswith("Dog-breed classifier versions")


def test_an_approval_reaches_the_stacks_eventbridge(twin):
    group = twin.model_package_group
    sqs, events = twin.client("sqs"), twin.client("events")
    queue = sqs.create_queue(QueueName="registry-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
               "detail": {"ModelPackageGroupName": [group], "ModelApprovalStatus": ["Approved"]}}  # fmt: skip
    events.put_rule(Name="registry-approved", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule="registry-approved", Targets=[{"Id": "inbox", "Arn": queue_arn}])

    sagemaker = twin.client("sagemaker")
    container = {"Image": "inference", "ModelDataUrl": f"s3://{twin.aws.bucket}/models/m/output/model.tar.gz"}
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [container]},
    )["ModelPackageArn"]  # fmt: skip
    assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []  # pending: not the rule's
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["resources"]) == ("aws.sagemaker", [arn])
    assert event["detail"]["ModelApprovalStatus"] == "Approved" and event["detail"]["ModelPackageVersion"] == 1
