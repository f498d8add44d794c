"""What the issue asks of the resources: the upload rule, the bucket, the API, the outputs."""

import json

import pytest
from moto.events.models import EventPattern

UPLOADED = "datasets/dogImages.zip"
PIPELINE_OUTPUTS = [
    "code/3f2a9c/sourcedir.tar.gz",
    "jobs/dogbreeds-hpo-1/output/model.tar.gz",
    "jobs/dogbreeds-train-1/debug-output/index/000000000/000000000000_worker_0.json",
    "models/dogbreeds-train-1/output/model.tar.gz",
    "models/export.zip",
    "jobs/manifest.zip",
]


@pytest.fixture(scope="module")
def upload_rule(template):
    (rule,) = template.upload_rules()
    return rule


def rule_matches(pattern: dict, key: str, bucket: str | None = None) -> bool:
    """Whether an upload of ``key`` fires the rule, by the matcher of the twin's EventBridge (moto)."""
    bucket = bucket or pattern["detail"]["bucket"]["name"][0]
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1, "etag": "e"}},
    }
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)


@pytest.mark.parametrize(
    "key",
    [
        "datasets/dogImages.zip", "datasets/dogImages.ZIP", "datasets/a.Zip", "datasets/b.zIp", "datasets/sub/c.ziP",
        "datasets/.zip", "datasets/x.zip.txt", "datasets/x.zipx", "datasets/xzip", "Datasets/x.zip", "x/datasets/a.zip",
        "models/export.ZIP", "datasets/notes.txt",
    ],
)  # fmt: skip
def test_the_rule_and_start_pipeline_agree_on_what_starts_a_run(upload_rule, template, key, monkeypatch):
    """`.zip` in any case under the upload prefix, and nothing else: EventBridge's pattern and the handler's check."""
    from start_pipeline import app

    monkeypatch.setenv("DATASETS_PREFIX", template.mappings["BucketLayout"]["Prefixes"]["Datasets"])
    assert rule_matches(upload_rule.pattern, key) == app.is_dataset_upload(key)
    assert rule_matches(upload_rule.pattern, key) == (key.startswith("datasets/") and key.lower().endswith(".zip"))


def test_upload_rule_takes_zips_under_the_upload_prefix_only(upload_rule, template):
    pattern = upload_rule.pattern
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [template.bucket().name]
    assert rule_matches(pattern, UPLOADED)
    assert not rule_matches(pattern, UPLOADED, bucket="another-bucket")
    assert not rule_matches(pattern, "datasets/notes.txt")
    for key in PIPELINE_OUTPUTS:
        assert not rule_matches(pattern, key), f"{key} would start another run"
    assert upload_rule.target_arns == [template.get_att("StartPipelineFunction", "Arn")]


def test_runs_that_end_outside_the_catch_are_notified_too(template):
    """TIMED_OUT (the execution's TimeoutSeconds) and ABORTED runs never reach NotifyFailure's Task state."""
    (rule,) = [rule for rule in template.rules() if rule.pattern.get("source") == ["aws.states"]]
    assert rule.pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(rule.pattern["detail"]["status"]) == ["ABORTED", "TIMED_OUT"]
    assert rule.pattern["detail"]["stateMachineArn"] == [template.get_att("PipelineStateMachine", "Arn")]
    assert rule.target_arns == [template.get_att("NotifyFailureFunction", "Arn")]
    assert len(template.rules()) == 3, "every rule is the upload rule, the approval rule or this one"


def test_approved_versions_of_the_stacks_group_start_releases(template):
    """SageMaker's state change of a version approved in the registry (StartPipeline ignores it in auto mode)."""
    (rule,) = [rule for rule in template.rules() if rule.pattern.get("source") == ["aws.sagemaker"]]
    assert rule.pattern["detail-type"] == ["SageMaker Model Package State Change"]
    prefix = template.parameters["SageMakerNamePrefix"]
    assert rule.pattern["detail"] == {
        "ModelPackageGroupName": [f"{prefix}-models"],
        "ModelApprovalStatus": ["Approved"],
    }
    assert rule.target_arns == [template.get_att("StartPipelineFunction", "Arn")]


def test_pipeline_prefixes_never_overlap_the_upload_prefix(template):
    prefixes = template.mappings["BucketLayout"]["Prefixes"]
    uploads = prefixes["Datasets"]
    for name, prefix in prefixes.items():
        if name != "Datasets":
            assert not prefix.startswith(uploads) and not uploads.startswith(prefix), name


def test_bucket_is_private_versioned_encrypted_and_tls_only(template):
    bucket = template.resolve(template.resources["DataBucket"]["Properties"])
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    (statement,) = template.resolve(template.resources["DataBucketPolicy"]["Properties"])["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_api_takes_images_needs_a_key_and_is_throttled(template, document):
    api = template.api()
    assert {"image/jpeg", "image/png"} <= set(api.binary_media_types)
    assert [(route.method, route.path, route.function, route.api_key_required) for route in api.routes] == [
        ("POST", "/predict", "PredictFunction", True),
        ("GET", "/", "TryItPageFunction", False),  # the try-it page; its POST carries the key
    ]
    # browsers' preflights carry neither key nor signature: the gateway answers them with the function's origin
    assert api.cors_headers["Access-Control-Allow-Origin"] == template.parameters["CorsAllowOrigin"] == "*"
    assert set(api.cors_headers["Access-Control-Allow-Methods"].split(",")) == {"POST", "OPTIONS"}
    assert {"Content-Type", "X-Api-Key", "Authorization"} <= set(
        api.cors_headers["Access-Control-Allow-Headers"].split(",")
    )
    auth = document["Resources"]["PredictApi"]["Properties"]["Auth"]
    assert auth["AddApiKeyRequiredToCorsPreflight"] is False and auth["AddDefaultAuthorizerToCorsPreflight"] is False
    predict_environment = template.functions()["PredictFunction"].environment
    assert predict_environment["CORS_ALLOW_ORIGIN"] == api.cors_headers["Access-Control-Allow-Origin"]
    usage_plan = template.resolve(document["Resources"]["PredictApi"]["Properties"]["Auth"]["UsagePlan"])
    assert usage_plan["CreateUsagePlan"] == "PER_API"
    assert int(usage_plan["Throttle"]["RateLimit"]) > 0 and int(usage_plan["Throttle"]["BurstLimit"]) > 0


def test_the_rollback_alarm_watches_the_served_endpoint(template, document):
    from common.sagemaker_requests import VARIANT_NAME

    alarm = template.resolve(document["Resources"]["EndpointErrorsAlarm"]["Properties"])
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "Invocation5XXErrors")
    dimensions = {dimension["Name"]: dimension["Value"] for dimension in alarm["Dimensions"]}
    deploy = template.functions()["DeployFunction"].environment
    assert dimensions == {"EndpointName": deploy["ENDPOINT_NAME"], "VariantName": VARIANT_NAME}
    assert deploy["ROLLBACK_ALARM_NAME"] == template.physical("EndpointErrorsAlarm").ref


def test_outputs_name_what_a_user_needs(document):
    assert set(document["Outputs"]) == {
        "BucketName",
        "UploadPrefix",
        "ApiUrl",
        "ApiKeyId",
        "TryItPageUrl",
        "DashboardUrl",
        "PredictionsPrefix",
        "StateMachineArn",
        "EndpointName",
        "ReleaseTopicArn",
        "ModelPackageGroupName",
    }


def test_the_model_registry_group_outlives_the_stack_under_the_sagemaker_prefix(template, document):
    """Nothing stored is lost: deleting or replacing the stack keeps the versions' history (AWS's
    DeleteModelPackageGroup refuses a group with versions anyway). Its name is the output users and the CLI read."""
    (logical_id,) = template.model_package_groups()
    resource = document["Resources"][logical_id]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    name = template.model_package_groups()[logical_id]["ModelPackageGroupName"]
    assert name == f"{template.parameters['SageMakerNamePrefix']}-models"
    assert template.resolve(document["Outputs"]["ModelPackageGroupName"]["Value"]) == name
    assert template.physical(logical_id).ref.endswith(f":model-package-group/{name}")


def test_functions_run_a_supported_python_with_tracing(template):
    for logical_id, function in template.functions().items():
        assert function.runtime in ("python3.12", "python3.13"), logical_id
        tracing = template.resources[logical_id]["Properties"]["TracingConfig"]  # SAM's Tracing, as Lambda gets it
        assert tracing == {"Mode": "Active"}, logical_id


def test_every_log_group_the_stack_writes_to_is_its_own_and_expires(template):
    """As CloudFormation gets the template (SAM's transform): each Lambda logs to a group of the stack
    (LoggingConfig), not Lambda's /aws/lambda/<name> made on first call, kept forever and left by a deletion; the
    state machine logs to one; each of them has a retention."""
    resources = template.resources
    groups = {logical_id for logical_id, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert all(resources[group]["Properties"].get("RetentionInDays") for group in groups)
    functions = {logical_id: r for logical_id, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    targets = [function["Properties"]["LoggingConfig"]["LogGroup"] for function in functions.values()]
    assert sorted(target["Ref"] for target in targets) == sorted(groups - {"PipelineLogGroup"})  # one each
    (machine,) = (r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": ["PipelineLogGroup", "Arn"]}
    # custom group names must not start with "aws/" (Lambda), and the twin sends each function's logs there
    names = template.log_groups()
    assert not [name for name in names if name.lstrip("/").startswith("aws/lambda")]
    assert {function.log_group for function in template.functions().values()} <= set(names)


def test_the_approval_modes_are_the_ones_the_functions_know(document):
    from model_code import registry

    parameter = document["Parameters"]["ApprovalMode"]
    assert tuple(parameter["AllowedValues"]) == registry.APPROVAL_MODES and parameter["Default"] == registry.AUTO
