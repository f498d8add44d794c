"""IAM policy evaluation as the twin enforces it (local_twin/iam.py), against AWS's documented logic."""

import pytest

from local_twin.iam import Request, evaluate

BUCKET = "arn:aws:s3:::data"


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
    role = "arn:aws:iam::123456789012:role/jobs"
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
    policies = policy(allow("s3:*", "*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    with pytest.raises(ValueError, match="IpAddress"):
        evaluate(policies, Request("s3:GetObject", f"{BUCKET}/a", {"aws:SourceIp": "10.1.1.1"}))
