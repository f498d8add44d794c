"""IAM enforced on the twin's AWS calls (local_twin/iam_gateway.py) with the errors AWS gives, on the routing
stand-in stack: its functions' roles come from its template, and a probe role is made here per test."""

import json
import uuid
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from local_twin import iam_gateway
from local_twin.account import ACCOUNT_ID
from local_twin.iam_actions import IMPLIED_ACTIONS, S3_OPERATIONS, TAGGING_ACTION, actions_of
from local_twin.iam_gateway import s3_operation, s3_requests
from local_twin.moto_stack import MotoStack
from local_twin.sagemaker import authorization
from local_twin.template import Template

pytestmark = pytest.mark.enable_socket  # the IAM gateway in front of a moto server, on loopback

STACK_DIR = Path(__file__).parent / "routing_stack"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    moto = MotoStack(Template.load(STACK_DIR), workdir=tmp_path_factory.mktemp("iam"))
    moto.start()
    try:
        aws = moto.provision(sagemaker_url="http://127.0.0.1:9")
        moto.client("s3").put_object(Bucket=aws.bucket, Key="code/present.txt", Body=b"here")
        yield moto, aws
    finally:
        moto.stop()


def session_as(moto, *statements) -> dict[str, str]:
    """The credentials of a session of a new role with these statements."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    iam = moto.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if statements:  # a role without any policy may do nothing
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="probe", PolicyDocument=json.dumps(document))
    return moto.assume(arn, name)


def client_as(moto, service: str, *statements, endpoint_url: str | None = None) -> boto3.client:
    """A client of ``service`` through the gateway (or ``endpoint_url``), as a session of a new role with these
    statements."""
    session = session_as(moto, *statements)
    return boto3.client(
        service,
        endpoint_url=endpoint_url or moto.gateway_url,
        region_name="us-east-1",
        aws_access_key_id=session["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=session["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=session["AWS_SESSION_TOKEN"],
    )


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Message", "")


def read_code(aws):
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{aws.bucket}/code/*"}


def test_a_missing_key_is_403_without_list_bucket(stack):
    moto, aws = stack
    s3 = client_as(moto, "s3", read_code(aws))
    assert s3.get_object(Bucket=aws.bucket, Key="code/present.txt")["Body"].read() == b"here"
    assert error_of(lambda: s3.head_object(Bucket=aws.bucket, Key="code/missing.txt"))[:2] == ("403", 403)
    code, status, _ = error_of(lambda: s3.get_object(Bucket=aws.bucket, Key="code/missing.txt"))
    assert (code, status) == ("AccessDenied", 403)


def test_a_missing_key_is_404_with_list_bucket(stack):
    moto, aws = stack
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{aws.bucket}"}
    s3 = client_as(moto, "s3", read_code(aws), listing)
    assert error_of(lambda: s3.head_object(Bucket=aws.bucket, Key="code/missing.txt"))[:2] == ("404", 404)
    assert error_of(lambda: s3.get_object(Bucket=aws.bucket, Key="code/missing.txt"))[:2] == ("NoSuchKey", 404)


def test_a_call_outside_the_policy_is_denied_with_the_action_and_resource_named(stack):
    moto, aws = stack
    s3 = client_as(moto, "s3", read_code(aws))
    code, status, message = error_of(lambda: s3.put_object(Bucket=aws.bucket, Key="code/new.txt", Body=b"x"))
    assert (code, status) == ("AccessDenied", 403)
    assert f"s3:PutObject on resource: arn:aws:s3:::{aws.bucket}/code/new.txt" in message
    assert "because no identity-based policy allows the s3:PutObject action" in message
    assert "new.txt" not in {item["Key"] for item in moto.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]}


def test_a_listing_is_allowed_only_under_the_prefixes_its_condition_names(stack):
    moto, aws = stack
    condition = {"StringLike": {"s3:prefix": "code/*"}}
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{aws.bucket}",
               "Condition": condition}  # fmt: skip
    s3 = client_as(moto, "s3", listing)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket, Prefix="code/")["Contents"]] == ["code/present.txt"]
    assert error_of(lambda: s3.list_objects_v2(Bucket=aws.bucket, Prefix="markers/"))[:2] == ("AccessDenied", 403)
    assert error_of(lambda: s3.list_objects_v2(Bucket=aws.bucket))[:2] == ("AccessDenied", 403)


def test_a_copy_needs_read_on_the_source_version_and_write_on_the_target(stack):
    moto, aws = stack
    target = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{aws.bucket}/markers/*"}
    s3 = client_as(moto, "s3", target)
    source = {"Bucket": aws.bucket, "Key": "code/present.txt"}
    code, _, message = error_of(lambda: s3.copy_object(CopySource=source, Bucket=aws.bucket, Key="markers/copy"))
    assert code == "AccessDenied" and "s3:GetObject on resource" in message
    s3 = client_as(moto, "s3", target, read_code(aws))
    s3.copy_object(CopySource=source, Bucket=aws.bucket, Key="markers/copy")
    assert moto.client("s3").get_object(Bucket=aws.bucket, Key="markers/copy")["Body"].read() == b"here"


def test_sns_and_step_functions_answer_their_own_denials(stack):
    moto, aws = stack
    (topic,) = aws.topic_queues
    code, status, message = error_of(lambda: client_as(moto, "sns").publish(TopicArn=topic, Message="x"))
    assert (code, status) == ("AuthorizationError", 403) and f"sns:Publish on resource: {topic}" in message
    code, status, message = error_of(
        lambda: client_as(moto, "stepfunctions").start_execution(stateMachineArn=aws.state_machine_arn, input="{}")
    )
    assert (code, status) == ("AccessDeniedException", 400) and "states:StartExecution" in message


def test_credentials_the_twin_never_issued_are_refused(stack):
    moto, aws = stack
    unknown = {"aws_access_key_id": "ASIANOBODY", "aws_secret_access_key": "x", "aws_session_token": "y"}
    stranger = boto3.client("s3", endpoint_url=moto.gateway_url, region_name="us-east-1", **unknown)
    assert error_of(lambda: stranger.get_object(Bucket=aws.bucket, Key="code/present.txt"))[0] == "InvalidAccessKeyId"


def test_the_state_machine_may_invoke_only_the_functions_its_role_names(stack):
    moto, aws = stack
    response = moto.client("lambda").invoke(FunctionName=aws.functions["StartFunction"].name, Payload=b"{}")
    payload = json.loads(response["Payload"].read())
    assert response.get("FunctionError")
    assert payload["errorType"] == "Lambda.AWSLambdaException"
    assert f"lambda:InvokeFunction on resource: {aws.functions['StartFunction'].arn}" in payload["errorMessage"]


def test_cloudwatch_calls_are_authorized_with_their_namespace_and_alarm(stack):
    moto, _ = stack
    namespace = {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
    metrics = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*", "Condition": namespace}
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:errors"
    cloudwatch = client_as(moto, "cloudwatch", metrics, {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms",
                                                         "Resource": alarm})  # fmt: skip
    datum = [{"MetricName": "Loss", "Value": 1.0}]
    cloudwatch.put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=datum)
    code, _, message = error_of(lambda: cloudwatch.put_metric_data(Namespace="Elsewhere", MetricData=datum))
    assert code == "AccessDeniedException" and "cloudwatch:PutMetricData on resource: *" in message
    assert cloudwatch.describe_alarms(AlarmNames=["errors"])["MetricAlarms"] == []
    code, _, message = error_of(lambda: cloudwatch.describe_alarms(AlarmNames=["other"]))
    assert code == "AccessDeniedException" and "alarm:other" in message


def test_scaling_a_variant_is_authorized_with_its_namespace_and_what_registration_asks_besides(stack):
    """Application Auto Scaling's calls on a SageMaker variant: the target's own action with its condition keys,
    and for RegisterScalableTarget the service-linked role and the endpoint (SageMaker's "Auto scaling
    prerequisites"), for PutScalingPolicy the target-tracking alarms: each missing grant named in the denial."""
    moto, _ = stack
    target = "arn:aws:application-autoscaling:us-east-1:*:scalable-target/*"
    variant = {
        "StringEquals": {
            "application-autoscaling:service-namespace": "sagemaker",
            "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
        }
    }
    scale = {
        "Effect": "Allow",
        "Action": ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"],
        "Resource": target,
        "Condition": variant,
    }
    endpoint = {
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
        "Resource": "arn:aws:sagemaker:us-east-1:*:endpoint/live-endpoint",
    }
    linked_role = {
        "Effect": "Allow",
        "Action": "iam:CreateServiceLinkedRole",
        "Resource": "*",
        "Condition": {"StringEquals": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
    }
    alarms = {
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
        "Resource": "arn:aws:cloudwatch:us-east-1:*:alarm:TargetTracking-endpoint/live-endpoint/*",
    }
    key = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/live-endpoint/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    tracking = {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    }
    policy = {
        "PolicyName": "p",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking,
    }
    allowed = client_as(moto, "application-autoscaling", scale, endpoint, linked_role, alarms)
    allowed.register_scalable_target(**key, MinCapacity=1, MaxCapacity=2)
    allowed.put_scaling_policy(**key, **policy)
    for missing, action in [(linked_role, "iam:CreateServiceLinkedRole"), (endpoint, "sagemaker:DescribeEndpoint")]:
        without = client_as(
            moto, "application-autoscaling", *[s for s in (scale, endpoint, linked_role, alarms) if s is not missing]
        )
        code, _, message = error_of(partial(without.register_scalable_target, **key, MinCapacity=1, MaxCapacity=2))
        assert code == "AccessDeniedException" and f"perform: {action}" in message
    without_alarms = client_as(moto, "application-autoscaling", scale, endpoint, linked_role)
    code, _, message = error_of(lambda: without_alarms.put_scaling_policy(**key, **policy))
    assert code == "AccessDeniedException" and "cloudwatch:PutMetricAlarm" in message
    deregister_without_alarms = client_as(
        moto, "application-autoscaling", scale | {"Action": "application-autoscaling:DeregisterScalableTarget"}
    )
    code, _, message = error_of(partial(deregister_without_alarms.deregister_scalable_target, **key))
    assert code == "AccessDeniedException" and "cloudwatch:DescribeAlarms" in message  # its policy's alarms go too
    deregistering = client_as(
        moto, "application-autoscaling", scale | {"Action": "application-autoscaling:DeregisterScalableTarget"}, alarms
    )
    deregistering.deregister_scalable_target(**key)
    other_endpoint = key | {"ResourceId": "endpoint/other/variant/AllTraffic"}
    code, _, message = error_of(
        lambda: allowed.register_scalable_target(**other_endpoint, MinCapacity=1, MaxCapacity=2)
    )
    assert code == "AccessDeniedException" and "endpoint/other" in message


def test_every_implied_action_of_application_auto_scaling_is_asked_or_said_not_to_be():
    """One table names the actions (IMPLIED_ACTIONS); the gateway only gives their resources."""
    implied = {
        a for call, actions in IMPLIED_ACTIONS.items() if call.startswith("application-autoscaling:") for a in actions
    }
    assert implied == set(iam_gateway.SCALING_IMPLIED) | iam_gateway.SCALING_IMPLIED_NOT_ASKED


def denied_action(call) -> str:
    """The action named by an AccessDenied answer (``... not authorized to perform: <action> on resource: ...``)."""
    code, status, message = error_of(call)
    assert (code, status) == ("AccessDenied", 403), message
    return message.split("perform: ", 1)[1].split(" ", 1)[0]


def test_object_tags_and_acls_are_their_own_actions(stack):
    moto, aws = stack
    key = {"Bucket": aws.bucket, "Key": "code/present.txt"}
    s3 = client_as(moto, "s3", {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                                "Resource": f"arn:aws:s3:::{aws.bucket}/code/*"})  # fmt: skip
    tags = {"TagSet": [{"Key": "k", "Value": "v"}]}
    assert denied_action(lambda: s3.get_object_tagging(**key)) == "s3:GetObjectTagging"
    assert denied_action(lambda: s3.put_object_tagging(**key, Tagging=tags)) == "s3:PutObjectTagging"
    assert denied_action(lambda: s3.get_object_acl(**key)) == "s3:GetObjectAcl"
    assert denied_action(lambda: s3.put_object_acl(**key, ACL="private")) == "s3:PutObjectAcl"
    # PutObject's API reference: setting tags or an ACL with the upload needs those actions as well
    new = {"Bucket": aws.bucket, "Key": "code/tagged.txt", "Body": b"x"}
    assert denied_action(lambda: s3.put_object(**new, Tagging="k=v")) == "s3:PutObjectTagging"
    assert denied_action(lambda: s3.put_object(**new, ACL="private")) == "s3:PutObjectAcl"
    assert "code/tagged.txt" not in {o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]}

    sub_resources = ["s3:GetObjectTagging", "s3:PutObjectTagging", "s3:GetObjectAcl", "s3:PutObjectAcl"]
    s3 = client_as(moto, "s3", {"Effect": "Allow", "Action": sub_resources,
                                "Resource": f"arn:aws:s3:::{aws.bucket}/code/*"})  # fmt: skip
    s3.put_object_tagging(**key, Tagging=tags)
    assert s3.get_object_tagging(**key)["TagSet"] == tags["TagSet"]
    s3.get_object_acl(**key)
    # a given version is another action again
    assert denied_action(lambda: s3.get_object_tagging(**key, VersionId="v1")) == "s3:GetObjectVersionTagging"
    assert denied_action(lambda: s3.put_object_tagging(**key, VersionId="v1", Tagging=tags)) == (
        "s3:PutObjectVersionTagging"
    )
    assert denied_action(lambda: s3.get_object_acl(**key, VersionId="v1")) == "s3:GetObjectVersionAcl"
    assert denied_action(lambda: s3.get_object(**key)) == "s3:GetObject"  # nor does a tag grant read the object


def test_object_attributes_need_the_object_and_its_attributes(stack):
    moto, aws = stack
    key = {"Bucket": aws.bucket, "Key": "code/present.txt", "ObjectAttributes": ["ObjectSize"]}

    def granted(*actions):
        return client_as(moto, "s3", {"Effect": "Allow", "Action": list(actions),
                                      "Resource": f"arn:aws:s3:::{aws.bucket}/code/*"})  # fmt: skip

    assert denied_action(lambda: granted("s3:GetObject").get_object_attributes(**key)) == "s3:GetObjectAttributes"
    assert denied_action(lambda: granted("s3:GetObjectAttributes").get_object_attributes(**key)) == "s3:GetObject"
    assert granted("s3:GetObject", "s3:GetObjectAttributes").get_object_attributes(**key)["ObjectSize"] == 4
    both = granted("s3:GetObject", "s3:GetObjectAttributes")
    assert denied_action(lambda: both.get_object_attributes(**key, VersionId="v1")) == "s3:GetObjectVersion"
    versions = granted("s3:GetObjectVersion", "s3:GetObjectAttributes")
    assert denied_action(lambda: versions.get_object_attributes(**key, VersionId="v1")) == (
        "s3:GetObjectVersionAttributes"
    )


def test_multipart_uploads_put_objects_and_their_listings_and_aborts_are_their_own_actions(stack):
    moto, aws = stack
    put = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{aws.bucket}/markers/*"}
    s3 = client_as(moto, "s3", put)
    key = {"Bucket": aws.bucket, "Key": "markers/parts.bin"}
    upload = s3.create_multipart_upload(**key)["UploadId"]
    etag = s3.upload_part(**key, UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    assert denied_action(lambda: s3.list_parts(**key, UploadId=upload)) == "s3:ListMultipartUploadParts"
    code, _, message = error_of(lambda: s3.list_multipart_uploads(Bucket=aws.bucket))
    assert (
        code == "AccessDenied" and f"s3:ListBucketMultipartUploads on resource: arn:aws:s3:::{aws.bucket} " in message
    )
    assert denied_action(lambda: s3.abort_multipart_upload(**key, UploadId=upload)) == "s3:AbortMultipartUpload"
    parts = {"Parts": [{"ETag": etag, "PartNumber": 1}]}
    s3.complete_multipart_upload(**key, UploadId=upload, MultipartUpload=parts)
    assert moto.client("s3").get_object(**key)["Body"].read() == b"part"

    managing = [put, {"Effect": "Allow", "Action": ["s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                      "Resource": f"arn:aws:s3:::{aws.bucket}/markers/*"},
                {"Effect": "Allow", "Action": "s3:ListBucketMultipartUploads",
                 "Resource": f"arn:aws:s3:::{aws.bucket}"}]  # fmt: skip
    s3 = client_as(moto, "s3", *managing)
    upload = s3.create_multipart_upload(**key)["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=aws.bucket)["Uploads"]] == [upload]
    assert s3.list_parts(**key, UploadId=upload).get("Parts", []) == []
    s3.abort_multipart_upload(**key, UploadId=upload)


def test_logs_calls_are_authorized_on_their_group_and_stream(stack):
    """What SageMaker does with a job's execution role: the group, its streams and their events under
    /aws/sagemaker/ (template.yaml's JobAndEndpointLogs), and nothing elsewhere."""
    moto, _ = stack
    group = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/sagemaker/*"
    logs = client_as(
        moto, "logs",
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams"],
         "Resource": group},
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": f"{group}:log-stream:*"},
    )  # fmt: skip
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName="job/algo-1-1")
    logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName="job/algo-1-1",
                        logEvents=[{"timestamp": 1, "message": "epoch=1"}])  # fmt: skip
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == ["job/algo-1-1"]
    code, _, message = error_of(lambda: logs.create_log_group(logGroupName="/aws/lambda/elsewhere"))
    assert code == "AccessDeniedException" and "logs:CreateLogGroup" in message and "/aws/lambda/elsewhere" in message


def test_experiment_calls_are_authorized_on_the_trial_and_the_component(stack, tmp_path):
    """The local SageMaker checks its Experiments calls like its others: DisassociateTrialComponent needs both."""
    from local_twin.sagemaker import LocalSageMaker

    moto, _ = stack
    service = LocalSageMaker(
        tmp_path, moto.gateway_url, assume=moto.assume, denials=moto.denials, directory=moto.directory
    )
    url = service.start()
    try:
        component = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:experiment-trial-component/*"
        allowed = {"Effect": "Allow", "Action": "sagemaker:DisassociateTrialComponent", "Resource": component}
        sagemaker = client_as(moto, "sagemaker", allowed, endpoint_url=url)
        code, _, message = error_of(
            lambda: sagemaker.disassociate_trial_component(TrialComponentName="c-aws-training-job", TrialName="t")
        )
        assert code == "AccessDeniedException" and "experiment-trial/t" in message
    finally:
        service.stop()


class _Sent(Exception):
    """Raised by a before-send hook: the request botocore would have sent."""

    def __init__(self, request):
        self.request = request


def sent_request(operation: str, **params):
    """The HTTP request boto3's S3 client makes for ``operation`` (serialized by botocore, never sent)."""
    s3 = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip

    def capture(request, **_):
        raise _Sent(request)

    s3.meta.events.register("before-send.s3", capture)
    with pytest.raises(_Sent) as sent:
        methods = {api: method for method, api in s3.meta.method_to_api_mapping.items()}
        getattr(s3, methods[operation])(**params)
    return sent.value.request


def as_the_gateway_reads(request) -> tuple:
    """A sent request's method, path, query and headers, parsed as IamGateway.handle parses them."""
    split = urlsplit(request.url)
    return request.method, split.path, parse_qs(split.query, keep_blank_values=True), request.headers


OBJECT = {"Bucket": "bucket", "Key": "dir/key.txt"}
UPLOAD = {**OBJECT, "UploadId": "u1"}
# Each S3 operation of the shared table (local_twin/iam_actions.py) and the bucket calls, as boto3 sends them
S3_CALLS = {
    "GetObject": OBJECT,
    "HeadObject": OBJECT,
    "GetObjectAttributes": {**OBJECT, "ObjectAttributes": ["ETag"]},
    "DeleteObject": OBJECT,
    "PutObject": {**OBJECT, "Body": b"x"},
    "CopyObject": {**OBJECT, "CopySource": "bucket/source"},
    "CreateMultipartUpload": OBJECT,
    "UploadPart": {**UPLOAD, "PartNumber": 1, "Body": b"x"},
    "UploadPartCopy": {**UPLOAD, "PartNumber": 1, "CopySource": "bucket/source"},
    "CompleteMultipartUpload": UPLOAD,
    "AbortMultipartUpload": UPLOAD,
    "ListParts": UPLOAD,
    "GetObjectTagging": OBJECT,
    "PutObjectTagging": {**OBJECT, "Tagging": {"TagSet": []}},
    "DeleteObjectTagging": OBJECT,
    "GetObjectAcl": OBJECT,
    "PutObjectAcl": {**OBJECT, "ACL": "private"},
    "ListObjects": {"Bucket": "bucket"},
    "ListObjectsV2": {"Bucket": "bucket", "Prefix": "dir/"},
    "HeadBucket": {"Bucket": "bucket"},
    "ListObjectVersions": {"Bucket": "bucket"},
    "ListMultipartUploads": {"Bucket": "bucket"},
    "GetBucketLocation": {"Bucket": "bucket"},
}


def test_every_s3_operation_of_the_action_table_is_told_from_the_request_boto3_sends():
    assert set(S3_OPERATIONS) <= set(S3_CALLS)
    for operation, params in S3_CALLS.items():
        assert s3_operation(*as_the_gateway_reads(sent_request(operation, **params))) == operation


def test_s3_requests_ask_the_table_s_actions_on_the_object_or_its_version():
    for versioned in (False, True):
        params = OBJECT | ({"VersionId": "v1"} if versioned else {})
        for operation in ("GetObject", "HeadObject", "DeleteObject", "GetObjectAttributes", "GetObjectTagging"):
            request = sent_request(operation, **(S3_CALLS[operation] | params))
            needed = s3_requests(*as_the_gateway_reads(request))
            assert [r.action for r in needed] == list(actions_of("s3", operation, versioned=versioned))
            assert {r.resource for r in needed} == {"arn:aws:s3:::bucket/dir/key.txt"}
    request = sent_request("CopyObject", **OBJECT, CopySource={"Bucket": "bucket", "Key": "src", "VersionId": "v2"})
    needed = s3_requests(*as_the_gateway_reads(request))
    assert [(r.action, r.resource) for r in needed] == [
        ("s3:PutObject", "arn:aws:s3:::bucket/dir/key.txt"),
        ("s3:GetObjectVersion", "arn:aws:s3:::bucket/src"),
    ]


def test_the_twin_s_sagemaker_asks_the_table_s_implied_actions():
    arn = lambda kind, name: f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:{kind}/{name}"  # noqa: E731
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/r"
    params = {
        "CreateTrainingJob": {"TrainingJobName": "j", "RoleArn": role},
        "CreateModel": {"ModelName": "m", "ExecutionRoleArn": role},
        "CreateHyperParameterTuningJob": {"HyperParameterTuningJobName": "t",
                                          "TrainingJobDefinition": {"RoleArn": role}},
        "CreateEndpoint": {"EndpointName": "e", "EndpointConfigName": "c",
                           "DeploymentConfig": {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}]}}},
        "UpdateEndpoint": {"EndpointName": "e", "EndpointConfigName": "c",
                           "DeploymentConfig": {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}]}}},
    }  # fmt: skip
    sagemakers = {action for action in IMPLIED_ACTIONS if action.startswith("sagemaker:")}
    assert {f"sagemaker:{operation}" for operation in params} == sagemakers
    for operation, call in params.items():
        asked = {r.action for r in authorization.required(operation, call | {"Tags": [{"Key": "k", "Value": "v"}]},
                                                           arn, lambda name: name)}  # fmt: skip
        tagging = {TAGGING_ACTION} if operation.startswith("Create") else set()
        assert asked == {f"sagemaker:{operation}", *IMPLIED_ACTIONS[f"sagemaker:{operation}"], *tagging}
