"""IAM policy evaluation as the twin enforces it (local_twin/iam.py), against AWS's documented logic."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_twin import iam
from local_twin.account import ACCOUNT_ID
from local_twin.iam import Request, arn_matches, evaluate, evaluate_trust
from local_twin.template import Template

BUCKET = "arn:aws:s3:::data"
SM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}"
LOGS = f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:"


def policy(*statements):
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def allow(action, resource, condition=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return statement | ({"Condition": condition} if condition else {})


def test_actions_match_case_insensitively_with_wildcards_and_resources_case_sensitively():
    policies = policy(allow(["s3:Get*"], f"{BUCKET}/code/*"))
    assert evaluate(policies, Request("s3:getobject", f"{BUCKET}/code/a.tar.gz")) == "Allow"
    assert evaluate(policies, Request("s3:PutObject", f"{BUCKET}/code/a.tar.gz")) == "ImplicitDeny"
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/Code/a.tar.gz")) == "ImplicitDeny"
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/datasets/a.zip")) == "ImplicitDeny"


def test_an_explicit_deny_wins_over_any_allow():
    policies = policy(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})
    assert evaluate(policies, Request("s3:DeleteObject", f"{BUCKET}/x")) == "Deny"
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/x")) == "Allow"


def test_string_like_on_a_prefix_holds_only_when_the_request_carries_a_matching_prefix():
    policies = policy(allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["code/*", "jobs/*"]}}))
    assert evaluate(policies, Request("s3:ListBucket", BUCKET, {"s3:prefix": "jobs/run-1/"})) == "Allow"
    assert evaluate(policies, Request("s3:ListBucket", BUCKET, {"s3:prefix": "models/"})) == "ImplicitDeny"
    assert evaluate(policies, Request("s3:ListBucket", BUCKET)) == "ImplicitDeny"  # an absent key fails


def test_pass_role_needs_the_passed_to_service_it_names():
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/jobs"
    policies = policy(allow("iam:PassRole", role, {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert evaluate(policies, Request("iam:PassRole", role, to_sagemaker)) == "Allow"
    assert evaluate(policies, Request("iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})) != "Allow"
    assert evaluate(policies, Request("iam:PassRole", role)) != "Allow"


def test_if_exists_holds_when_the_key_is_absent_and_negated_operators_need_no_match():
    namespace = {"StringLikeIfExists": {"cloudwatch:namespace": "/aws/*"}}
    policies = policy(allow("cloudwatch:PutMetricData", "*", namespace))
    assert evaluate(policies, Request("cloudwatch:PutMetricData", "*")) == "Allow"
    assert evaluate(policies, Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Mine"})) != "Allow"
    denied = policy(allow("s3:*", "*", {"StringNotLike": {"s3:prefix": ["secret/*", "private/*"]}}))
    assert evaluate(denied, Request("s3:ListBucket", BUCKET, {"s3:prefix": "public/"})) == "Allow"
    assert evaluate(denied, Request("s3:ListBucket", BUCKET, {"s3:prefix": "private/a"})) == "ImplicitDeny"


def test_not_action_and_not_resource():
    policies = policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"})
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/public/a")) == "Allow"
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/secret/a")) == "ImplicitDeny"
    assert evaluate(policies, Request("iam:PassRole", "*")) == "ImplicitDeny"


def test_a_condition_operator_the_twin_cannot_evaluate_is_an_error_not_a_pass():
    policies = policy(allow("s3:*", "*", {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}))
    with pytest.raises(ValueError, match="DateGreaterThan"):
        evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a", {"aws:CurrentTime": "2026-01-01T00:00:00Z"}))


# (operator, a value it compares with, a request value that matches it); "Not" flips each.
POSITIVE = [
    ("StringEquals", "jobs/", "jobs/"),
    ("StringEqualsIgnoreCase", "JOBS/", "jobs/"),
    ("StringLike", "jobs/*", "jobs/run-1/"),
    ("ArnEquals", f"{SM}:training-job/a", f"{SM}:training-job/a"),
    ("ArnLike", f"arn:aws:sagemaker:*:{ACCOUNT_ID}:training-job/*", f"{SM}:training-job/a"),
    ("IpAddress", "10.0.0.0/8", "10.1.2.3"),
]  # fmt: skip
NEGATED = {
    "StringEquals": "StringNotEquals",
    "StringEqualsIgnoreCase": "StringNotEqualsIgnoreCase",
    "StringLike": "StringNotLike",
    "ArnEquals": "ArnNotEquals",
    "ArnLike": "ArnNotLike",
    "IpAddress": "NotIpAddress",
}


@pytest.mark.parametrize(("operator", "expected", "matching"), POSITIVE)
def test_a_missing_key_fails_a_positive_operator_and_satisfies_its_negation(operator, expected, matching):
    """IAM User Guide, Condition operators: a key missing from the request makes the condition false, "If the
    policy condition requires that the key is not matched, such as StringNotLike or ArnNotLike, and the right
    key is not present, the condition is true"."""
    key = "test:Key"
    negated = NEGATED[operator]
    for name, on_match, on_missing in ((operator, "Allow", "ImplicitDeny"), (negated, "ImplicitDeny", "Allow")):
        policies = policy(allow("s3:GetObject", "*", {name: {key: expected}}))
        assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a", {key: matching})) == on_match, name
        assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a")) == on_missing, name
        if_exists = policy(allow("s3:GetObject", "*", {f"{name}IfExists": {key: expected}}))
        assert evaluate(if_exists, Request("s3:GetObject", f"{BUCKET}/a")) == "Allow", f"{name}IfExists"


def test_a_deny_with_a_negated_operator_applies_when_the_key_is_missing():
    guard = {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT_ID}}}  # fmt: skip
    policies = policy(allow("s3:*", "*"), guard)
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a", {"aws:SourceAccount": ACCOUNT_ID})) == "Allow"
    assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a")) == "Deny"


def test_null_and_the_set_operators_on_a_missing_key():
    absent, present = (
        Request("s3:GetObject", f"{BUCKET}/a"),
        Request("s3:GetObject", f"{BUCKET}/a", {"aws:TagKeys": ["a"]}),
    )
    for condition, on_absent, on_present in (
        ({"Null": {"aws:TagKeys": "true"}}, "Allow", "ImplicitDeny"),
        ({"Null": {"aws:TagKeys": "false"}}, "ImplicitDeny", "Allow"),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, "Allow", "Allow"),  # true when missing
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}, "ImplicitDeny", "Allow"),
        ({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, "ImplicitDeny", "Allow"),
    ):  # fmt: skip
        policies = policy(allow("s3:GetObject", "*", condition))
        assert evaluate(policies, absent) == on_absent, condition
        assert evaluate(policies, present) == on_present, condition


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        # the IAM User Guide's own example (Resource element): * matches /, but stays in its place
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket/1/2/test/3/object.jpg", True),
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket//test/object.jpg", True),
        ("arn:aws:s3:::bucket/*/test/*", "arn:aws:s3:::bucket/1-test/object.jpg", False),
        # a * inside a segment stops at ':'; a * that ends its segment may expand beyond it
        (f"{LOGS}/aws/*/x", f"{LOGS}/aws/a:b/x", False),
        (f"{LOGS}/aws/sagemaker/*", f"{LOGS}/aws/sagemaker/TrainingJobs:log-stream:job/algo-1", True),
        (f"{LOGS}/aws/sagemaker/*:log-stream:*", f"{LOGS}/aws/sagemaker/Endpoints/e:log-stream:AllTraffic/i", True),
        ("arn:aws:s3:::data/jobs/*/dataset/*", "arn:aws:s3:::data/jobs/run:1/dataset/a.zip", False),
        ("arn:aws:s3:::data/jobs/*", "arn:aws:s3:::data/jobs/run:1/dataset/a.zip", True),
        (f"arn:aws:sagemaker:us-*-1:{ACCOUNT_ID}:endpoint/e", f"{SM}:endpoint/e", True),
        (f"arn:aws:sagemaker:*:{ACCOUNT_ID}:endpoint/e", f"{SM}:endpoint/e", True),
        # ? is exactly one character, never ':'
        (f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:queue-?", f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:queue-1", True),
        (f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:queue-?", f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:queue-12", False),
        ("arn:aws:s3:::a?b", "arn:aws:s3:::a:b", False),
        ("*", "arn:aws:s3:::a:b/c", True),
        (f"{SM}:*", "*", False),  # a call on "*" is not an ARN's
    ],
)  # fmt: skip
def test_resource_wildcards_keep_to_arn_segments(pattern, arn, matches):
    assert arn_matches(pattern, arn) is matches
    assert (evaluate(policy(allow("s3:GetObject", pattern)), Request("s3:GetObject", arn)) == "Allow") is matches


SAGEMAKER = "sagemaker.amazonaws.com"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/jobs"
JOB = f"{SM}:training-job/dogs-train"


def trust(condition=None, principal=None):
    statement = {"Effect": "Allow", "Principal": principal or {"Service": SAGEMAKER}, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement | ({"Condition": condition} if condition else {})]}


def test_a_trust_policy_is_evaluated_with_the_keys_the_service_sends():
    """The template's old trust condition: true for a training job (it sends aws:SourceAccount), false for a
    caller that sends no key (a tuning job's trials), as IAM evaluates a positive operator on a missing key."""
    source_account = trust({"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}})
    training_job = {"aws:SourceAccount": ACCOUNT_ID, "aws:SourceArn": JOB}
    assert evaluate_trust(source_account, SAGEMAKER, Request("sts:AssumeRole", ROLE, training_job)) == "Allow"
    assert evaluate_trust(source_account, SAGEMAKER, Request("sts:AssumeRole", ROLE, {})) == "ImplicitDeny"
    other_account = {"aws:SourceAccount": "000000000000", "aws:SourceArn": JOB.replace(ACCOUNT_ID, "000000000000")}
    assert evaluate_trust(source_account, SAGEMAKER, Request("sts:AssumeRole", ROLE, other_account)) == "ImplicitDeny"
    # a negated operator holds on a missing key
    not_elsewhere = trust({"StringNotEquals": {"aws:SourceAccount": "000000000000"}})
    assert evaluate_trust(not_elsewhere, SAGEMAKER, Request("sts:AssumeRole", ROLE, {})) == "Allow"
    assert evaluate_trust(not_elsewhere, SAGEMAKER, Request("sts:AssumeRole", ROLE, other_account)) == "ImplicitDeny"
    # only the statements naming the service count
    assert evaluate_trust(trust(), "lambda.amazonaws.com", Request("sts:AssumeRole", ROLE, {})) == "ImplicitDeny"
    assert evaluate_trust(trust(principal="*"), "lambda.amazonaws.com", Request("sts:AssumeRole", ROLE)) == "Allow"
    assert evaluate_trust(trust(), SAGEMAKER, Request("sts:AssumeRole", ROLE)) == "Allow"


# moto's setting for AWS's managed policies, as the twin sets it (MOTO_IAM_LOAD_MANAGED_POLICIES) for its server
WITH_MANAGED_POLICIES = {"iam": {"load_aws_managed_policies": True}}
LAMBDA_TRUST = {"Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip


def directory() -> iam.Directory:
    """A directory of the mocked account's IAM, reading and watching clients made here (mock_aws active)."""
    return iam.Directory(boto3.client("iam", region_name="us-east-1"), boto3.client("sts", region_name="us-east-1"))


def signed_by(credentials: dict, token: str | None = None) -> dict:
    """The headers of a request signed with these STS credentials (``token`` instead of theirs)."""
    scope = f"{credentials['AccessKeyId']}/20261203/us-east-1/s3/aws4_request"
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
            "X-Amz-Security-Token": token or credentials["SessionToken"]}  # fmt: skip


def test_the_managed_policies_sam_attaches_are_enforced_with_their_documents():
    """SAM attaches AWSLambdaBasicExecutionRole and AWSXrayWriteOnlyAccess to a function's role by ARN: moto's
    copies of AWS's documents are what the role is evaluated with; an ARN that is no AWS managed policy is
    refused as IAM refuses it."""
    role = Template.load(Path(__file__).resolve().parents[2]).role_of("PickBestFunction")
    assert sorted(role.managed_policy_arns) == [
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]
    with mock_aws(config=WITH_MANAGED_POLICIES):
        roles = directory()
        client = boto3.client("iam", region_name="us-east-1")
        client.create_role(RoleName=role.name, AssumeRolePolicyDocument="{}")
        for arn in role.managed_policy_arns:
            client.attach_role_policy(RoleName=role.name, PolicyArn=arn)
        policies = roles.policies(role.name)
        assert evaluate(policies, Request("logs:PutLogEvents", f"{LOGS}/aws/lambda/x:log-stream:y")) == "Allow"
        assert evaluate(policies, Request("xray:PutTraceSegments", "*")) == "Allow"
        assert evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a")) == "ImplicitDeny"
        with pytest.raises(ClientError, match="NoSuchEntity"):
            client.attach_role_policy(RoleName=role.name, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")


def test_the_directory_sees_iam_changes_made_through_the_clients_it_watches():
    """What IAM answered is kept (the gateway asks on every request) until an IAM write through a watched client:
    a policy put after a role was read, a role deleted (its sessions may then do nothing)."""
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}
    with mock_aws():
        watched = boto3.client("iam", region_name="us-east-1")
        roles = iam.Directory(watched, boto3.client("sts", region_name="us-east-1"))
        arn = watched.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
        session = roles.session(arn, "s")
        assert not iam.allows(session, Request("s3:GetObject", f"{BUCKET}/a"))
        document = json.dumps({"Version": "2012-10-17", "Statement": [read]})
        boto3.client("iam", region_name="us-east-1").put_role_policy(
            RoleName="r", PolicyName="elsewhere", PolicyDocument=document
        )
        assert not iam.allows(session, Request("s3:GetObject", f"{BUCKET}/a"))  # an unwatched client's write
        watched.put_role_policy(RoleName="r", PolicyName="read", PolicyDocument=document)
        assert iam.allows(session, Request("s3:GetObject", f"{BUCKET}/a"))
        assert roles.trust(arn) == LAMBDA_TRUST
        for name in ("elsewhere", "read"):
            watched.delete_role_policy(RoleName="r", PolicyName=name)
        watched.delete_role(RoleName="r")
        assert roles.policies("r") == [] and roles.trust(arn) is None


def test_the_directory_knows_the_sessions_created_through_its_sts_client_with_their_tokens():
    """A session is its AssumeRole answer: the access key with the token it came with; any other key or token is
    refused as AWS refuses it; the administrator's key is the administrator."""
    with mock_aws():
        iam_client, sts = boto3.client("iam", region_name="us-east-1"), boto3.client("sts", region_name="us-east-1")
        roles = iam.Directory(iam_client, sts)
        arn = iam_client.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName="job")["Credentials"]
        principal = roles.principal_of(signed_by(credentials))
        assert principal == roles.session(arn, "job")
        assert principal.arn == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/r/job"
        with pytest.raises(iam.InvalidCredentials, match="security token included in the request is invalid"):
            roles.principal_of(signed_by(credentials, token="forged"))
        unseen = boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=arn, RoleSessionName="other")
        with pytest.raises(iam.InvalidCredentials):
            roles.principal_of(signed_by(unseen["Credentials"]))
        assert roles.principal_of(signed_by({"AccessKeyId": iam.ADMIN_ACCESS_KEY, "SessionToken": ""})) == iam.ADMIN
