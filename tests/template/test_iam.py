"""Least privilege: each Lambda's policy grants exactly the boto3 calls its code makes, scoped to ARNs."""

import json

import pytest

from tests.support import code_scan
from tests.support.template_tools import CHECKOV_PYTHON, functions_of, handler_folder, run_tool, tool

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


def statements(policies: list) -> list[dict]:
    """Inline statements of a SAM ``Policies`` list (managed policy names and SAM policy templates refused)."""
    found = []
    for policy in policies:
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, f"only inline statements, got {policy}"
        found.extend(policy["Statement"])
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def lambda_statements(document, template) -> dict[str, list[dict]]:
    return {
        logical_id: statements(template.resolve(resource["Properties"].get("Policies", [])))
        for logical_id, resource in functions_of(document).items()
    }


@pytest.fixture(scope="module")
def wildcard_only_actions(lambda_statements) -> set[str]:
    """Actions that IAM cannot scope to a resource (policy_sentry's IAM database, in the checkov virtualenv)."""
    services = sorted(
        {action.split(":")[0] for found in lambda_statements.values() for s in found for action in as_list(s["Action"])}
    )
    script = (
        "import json, sys\n"
        "from policy_sentry.querying.actions import get_actions_that_support_wildcard_arns_only as only\n"
        "print(json.dumps(sorted({a.lower() for s in sys.argv[1:] for a in only(s)})))\n"
    )
    result = run_tool(tool(CHECKOV_PYTHON), "-c", script, *services)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_every_boto3_call_of_each_function_is_granted(document, lambda_statements):
    missing = {}
    for logical_id, resource in functions_of(document).items():
        folder = handler_folder(resource)
        needed = code_scan.boto3_actions(code_scan.function_modules(folder))
        granted = {
            action
            for statement in lambda_statements[logical_id]
            if statement["Effect"] == "Allow"
            for action in as_list(statement["Action"])
        }
        if needed - granted:
            missing[logical_id] = sorted(needed - granted)
    assert not missing, f"calls without a grant: {missing}"


def test_no_function_is_granted_what_its_code_never_calls(document, lambda_statements):
    unused = {}
    for logical_id, resource in functions_of(document).items():
        needed = code_scan.boto3_actions(code_scan.function_modules(handler_folder(resource)))
        granted = {action for statement in lambda_statements[logical_id] for action in as_list(statement["Action"])}
        if granted - needed:
            unused[logical_id] = sorted(granted - needed)
    assert not unused, f"grants the code never uses: {unused}"


def test_no_wildcard_actions_and_no_unscoped_resources(lambda_statements, wildcard_only_actions):
    for logical_id, found in lambda_statements.items():
        for statement in found:
            actions = as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], f"{logical_id}: wildcard action in {statement}"
            for resource in as_list(statement["Resource"]):
                assert resource.startswith("arn:") or resource == "*", f"{logical_id}: {resource!r}"
                if resource == "*" or resource.endswith(":*"):
                    scoped = [a for a in actions if a.lower() not in wildcard_only_actions]
                    assert not scoped, f"{logical_id}: {scoped} can be scoped to an ARN but get {resource!r}"


def test_pass_role_only_hands_the_sagemaker_role_to_sagemaker(document, template, lambda_statements):
    role_arn = template.get_att("SageMakerExecutionRole", "Arn")
    for logical_id, found in lambda_statements.items():
        for statement in found:
            if "iam:PassRole" not in as_list(statement["Action"]):
                continue
            assert as_list(statement["Action"]) == ["iam:PassRole"], f"{logical_id}: PassRole shares a statement"
            assert as_list(statement["Resource"]) == [role_arn], f"{logical_id}: passes {statement['Resource']}"
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}}


def test_sagemaker_role_is_limited_to_the_bucket_prefixes_ecr_and_logs(template):
    role = template.resolve(template.resources["SageMakerExecutionRole"]["Properties"])
    bucket_arn = template.get_att("DataBucket", "Arn")
    prefixes = template.mappings["BucketLayout"]["Prefixes"].values()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            assert {a.split(":")[0] for a in actions} <= {"s3", "ecr", "logs", "cloudwatch"}, actions
            for resource in as_list(statement["Resource"]):
                if resource.startswith("arn:aws:s3:::"):
                    assert resource == bucket_arn or any(resource == f"{bucket_arn}/{p}*" for p in prefixes), resource
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": SAGEMAKER_SERVICE}


def test_sagemaker_resources_are_scoped_to_the_name_prefix(template, lambda_statements):
    prefix = template.parameters["SageMakerNamePrefix"]
    for logical_id, found in lambda_statements.items():
        for statement in found:
            for resource in as_list(statement["Resource"]):
                if resource.startswith("arn:aws:sagemaker:"):
                    name = resource.split("/", 1)[1]
                    assert name.startswith(f"{prefix}-"), f"{logical_id}: {resource} is not under {prefix}-"
