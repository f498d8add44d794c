"""Each step through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import datetime
import io
import json

import pytest
from botocore.stub import ANY

from tests.support.lambda_context import LambdaContext
from tests.support.pipeline_steps import ENVIRONMENT, load_event
from tests.support.zips import bad_zips, good_zip

ARN = "arn:aws:sagemaker:us-east-1:123456789012:{}/x"


def call(module, event):
    return module.lambda_handler(event, LambdaContext())


def test_start_pipeline_starts_one_named_execution(stubbed):
    from common.naming import execution_name
    from start_pipeline import app

    event = load_event("s3_object_created")
    detail = event["detail"]["object"]
    run_id = execution_name("dogbreeds-data", detail["key"], detail["version-id"])
    expected_input = app.execution_input(
        "dogbreeds-data", detail["key"], detail["version-id"], detail["etag"], detail["size"], run_id
    )
    stubbed("stepfunctions").add_response(
        "start_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:run", "startDate": datetime.datetime.now()},
        expected_params={
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:dogbreeds-pipeline",
            "name": run_id,
            "input": json.dumps(expected_input),
        },
    )
    result = call(app, event)
    assert result["started"] is True and result["run_id"] == run_id and run_id.startswith("dogImages-")


def test_same_event_twice_starts_one_execution(stubbed):
    from start_pipeline import app

    event = load_event("s3_object_created")
    stub = stubbed("stepfunctions")
    stub.add_response(
        "start_execution",
        {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:p:run", "startDate": datetime.datetime.now()},
    )
    stub.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
    first, second = call(app, event), call(app, event)
    assert first["started"] is True
    assert second == {"started": False, "run_id": first["run_id"], "reason": "duplicate delivery"}


def test_execution_input_carries_dataset_and_poll_budget(stubbed):
    from start_pipeline import app

    payload = app.execution_input("b", "datasets/d.zip", "v1", "e", 10, "run")
    assert payload == {
        "run_id": "run",
        "dataset": {"bucket": "b", "key": "datasets/d.zip", "version_id": "v1", "etag": "e", "size": 10},
        # 4 spot trials of at most 2 x 7200 s in 2 waves, the final job, the endpoint (test_poll_budget.py)
        "poll": {"interval_seconds": 60, "max_polls": {"tuning": 511, "training": 256, "endpoint": 66}},
    }


def test_uploads_outside_the_prefix_are_ignored(stubbed):
    from start_pipeline import app

    event = load_event("s3_object_created")
    event["detail"]["object"]["key"] = "models/x.zip"
    assert call(app, event) == {"started": False, "reason": "not a dataset upload"}


class RangeServingS3:
    """head_object + ranged get_object over bytes, and the managed copy, recording every call (nothing else
    is allowed)."""

    def __init__(self, data: bytes):
        self.data = data
        self.calls = []

    def head_object(self, **params):
        self.calls.append(("head_object", params))
        return {"ContentLength": len(self.data)}

    def get_object(self, Range, **params):
        self.calls.append(("get_object", {"Range": Range, **params}))
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        return {"Body": io.BytesIO(self.data[start : end + 1])}

    def copy(self, CopySource, Bucket, Key):
        self.calls.append(("copy", {"CopySource": CopySource, "Bucket": Bucket, "Key": Key}))


@pytest.fixture
def fake_s3(monkeypatch, environment):
    from common import aws

    def install(data: bytes) -> RangeServingS3:
        s3 = RangeServingS3(data)
        monkeypatch.setattr(aws, "client", lambda service: s3)
        return s3

    return install


def test_validate_reads_only_ranges_of_the_pinned_version(fake_s3):
    from validate_dataset import app

    s3 = fake_s3(good_zip())
    manifest = call(app, load_event("validate_dataset"))
    assert manifest["classes"] == ["001.Beagle", "002.Boxer"]
    *reads, (last, copied) = s3.calls
    assert {name for name, _ in reads} == {"head_object", "get_object"}
    assert all(params["VersionId"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" for _, params in reads)
    assert all(params["Range"].startswith("bytes=") for name, params in reads if name == "get_object")
    # the validated version, copied once validation passed, to the run's own key: what the jobs read
    pinned = "jobs/dogImages-4f0c2a9d1e7b3c55/dataset/dogImages.zip"
    assert (last, copied) == (
        "copy",
        {
            "CopySource": {
                "Bucket": "dogbreeds-data",
                "Key": "datasets/dogImages.zip",
                "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            },
            "Bucket": "dogbreeds-data",
            "Key": pinned,
        },
    )
    assert manifest["dataset_uri"] == f"s3://dogbreeds-data/{pinned}"
    assert manifest["uploaded"]["key"] == "datasets/dogImages.zip"


def test_validate_rejects_a_bad_zip_with_its_reason(fake_s3):
    from validate_dataset import app
    from validate_dataset.zip_check import InvalidDataset

    s3 = fake_s3(bad_zips()["path traversal"][0])
    with pytest.raises(InvalidDataset, match="points outside the archive"):
        call(app, load_event("validate_dataset"))
    assert "copy" not in {name for name, _ in s3.calls}  # nothing is written for a bad dataset


def sourcedir_already_uploaded(s3_stub) -> None:
    """The listing StartTuning/StartTraining make finds this code's sourcedir.tar.gz: nothing is uploaded."""
    from common import sourcedir

    content_hash, _ = sourcedir.build_archive()
    s3_stub.add_response("list_objects_v2", {"Contents": [{"Key": f"code/sourcedir-{content_hash}.tar.gz"}]})


def test_start_tuning_uploads_sourcedir_once_and_creates_the_job(stubbed):
    from start_tuning import app

    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    listing = {"Bucket": "dogbreeds-data", "Prefix": ANY, "MaxKeys": 1}
    s3.add_response("list_objects_v2", {"KeyCount": 0}, listing)  # not uploaded yet (asked without HeadObject)
    s3.add_response(
        "put_object", {}, {"Bucket": "dogbreeds-data", "Key": ANY, "Body": ANY, "ContentType": "application/gzip"}
    )
    sagemaker.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []})
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    result = call(app, load_event("start_tuning"))
    assert result["status"] == "InProgress" and result["polls"] == 0
    assert len(result["name"]) <= 32 and result["name"].startswith("dogbreeds-")
    assert result["source_uri"].startswith("s3://dogbreeds-data/code/sourcedir-")
    uploaded_key = result["source_uri"].removeprefix("s3://dogbreeds-data/")
    s3.add_response("list_objects_v2", {"Contents": [{"Key": uploaded_key}]}, listing)  # second run: no upload
    sagemaker.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []})
    sagemaker.add_client_error("create_hyper_parameter_tuning_job", service_error_code="ResourceInUse")
    again = call(app, load_event("start_tuning"))
    assert again["source_uri"] == result["source_uri"] and again["name"] == result["name"]


def test_start_tuning_warm_starts_from_this_stacks_earlier_completed_job(stubbed):
    from start_tuning import app

    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    sourcedir_already_uploaded(s3)
    earlier_name = "dogbreeds-0123456789-hpo"
    summary = {
        "HyperParameterTuningJobArn": ARN.format("hyper-parameter-tuning-job"), "Strategy": "Bayesian",
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": datetime.datetime(2026, 11, 1),
        "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {},
    }  # fmt: skip
    listed = [
        summary | {"HyperParameterTuningJobName": earlier_name},
        summary | {"HyperParameterTuningJobName": "otherstack-0123456789-hpo"},  # not this stack's: never read
    ]
    sagemaker.add_response(
        "list_hyper_parameter_tuning_jobs",
        {"HyperParameterTuningJobSummaries": listed},
        {"NameContains": "dogbreeds-", "StatusEquals": "Completed", "SortBy": "CreationTime",
         "SortOrder": "Descending", "MaxResults": 100},
    )  # fmt: skip
    # the earlier run had the same code and the same dataset: its request was this run's but for the name
    from common import sourcedir
    from common.sagemaker_requests import tuning_job_request
    from common.settings import job_settings

    event = load_event("start_tuning")
    earlier = tuning_job_request(
        name=earlier_name, settings=job_settings("ml.m5.large"), tuning=app.tuning_settings(),
        dataset_uri="s3://dogbreeds-data/jobs/an-earlier-run/dataset/dogImages.zip",
        dataset_fingerprint=event["manifest"]["fingerprint"],
        source_uri=f"s3://dogbreeds-data/code/sourcedir-{sourcedir.build_archive()[0]}.tar.gz",
        tags=[],
    )  # fmt: skip
    sagemaker.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": earlier_name, "HyperParameterTuningJobArn": ARN.format("h"),
            "HyperParameterTuningJobStatus": "Completed", "CreationTime": datetime.datetime(2026, 11, 1),
            "HyperParameterTuningJobConfig": earlier["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": earlier["TrainingJobDefinition"],
            "TrainingJobStatusCounters": {"Completed": 4}, "ObjectiveStatusCounters": {"Succeeded": 4},
        },
        {"HyperParameterTuningJobName": earlier_name},
    )  # fmt: skip
    sent = sent_requests(sagemaker, "CreateHyperParameterTuningJob")
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    call(app, event)
    (request,) = sent
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": earlier_name}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }


def test_warm_start_off_sends_no_warm_start_and_lists_nothing(stubbed, monkeypatch):
    from start_tuning import app

    monkeypatch.setenv("WARM_START", "false")
    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    sourcedir_already_uploaded(s3)
    sagemaker.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": ARN.format("hpo")})
    sent = sent_requests(sagemaker, "CreateHyperParameterTuningJob")
    call(app, load_event("start_tuning"))
    assert "WarmStartConfig" not in sent[0]


def sent_requests(stub, operation: str) -> list[dict]:
    """The parameters of every ``operation`` call the stubbed client makes (after botocore validated them)."""
    sent = []
    stub.client.meta.events.register(
        f"provide-client-params.sagemaker.{operation}", lambda params, **_: sent.append(params)
    )
    return sent


def test_start_training_sends_the_runs_choices_to_create_training_job(stubbed):
    from common import naming
    from start_training import app

    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    sourcedir_already_uploaded(s3)
    sagemaker.add_response("create_training_job", {"TrainingJobArn": ARN.format("training-job")})
    sent = sent_requests(sagemaker, "CreateTrainingJob")
    event = load_event("start_training")
    result = call(app, event)
    (request,) = sent
    assert result == {"name": request["TrainingJobName"], "status": "InProgress", "polls": 0}
    assert request["TrainingJobName"] == naming.training_job_name("dogbreeds", "dogImages-4f0c2a9d1e7b3c55")
    assert request["TrainingJobName"].endswith("-train") and len(request["TrainingJobName"]) <= 63
    assert (request["HyperParameters"]["lr"], request["HyperParameters"]["batch-size"]) == ("0.0031", "64")
    (channel,) = request["InputDataConfig"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == event["manifest"]["dataset_uri"]  # the pinned copy
    assert "DebugRuleConfigurations" not in request  # DEBUGGER_SERVICE=false, the default
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert request["RoleArn"] == "arn:aws:iam::123456789012:role/dogbreeds-sagemaker"
    assert request["EnableManagedSpotTraining"] is True
    assert {"Key": "pipeline-run", "Value": "dogImages-4f0c2a9d1e7b3c55"} in request["Tags"]


def test_start_training_adds_the_debugger_service_when_asked(stubbed, monkeypatch):
    from start_training import app

    monkeypatch.setenv("DEBUGGER_SERVICE", "true")
    s3, sagemaker = stubbed("s3"), stubbed("sagemaker")
    s3.add_response("list_objects_v2", {"KeyCount": 0})  # the sourcedir is not there yet
    s3.add_response("put_object", {})
    sagemaker.add_response("create_training_job", {"TrainingJobArn": ARN.format("training-job")})
    sent = sent_requests(sagemaker, "CreateTrainingJob")
    call(app, load_event("start_training"))
    (request,) = sent
    assert {rule["RuleEvaluatorImage"] for rule in request["DebugRuleConfigurations"]} == {
        "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"
    }
    assert request["DebugHookConfig"]["S3OutputPath"].endswith("/debug-output")


def test_sourcedir_is_reproducible(tmp_path):
    from common import sourcedir

    (tmp_path / "hpo.py").write_text("print('hi')\n")
    (tmp_path / "train_model.py").write_text("print('hi')\n")
    (tmp_path / "requirements.txt").write_text("pandas<3\n")
    (tmp_path / "Makefile").write_text("not shipped\n")
    first, second = sourcedir.build_archive(tmp_path), sourcedir.build_archive(tmp_path)
    assert first == second
    (tmp_path / "hpo.py").write_text("print('changed')\n")
    assert sourcedir.build_archive(tmp_path)[0] != first[0]
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(first[1])) as archive:
        # the package beside the scripts the training toolkit runs, and the requirements it installs
        assert archive.getnames() == [
            "hpo.py", "model_code/hpo.py", "model_code/train_model.py", "requirements.txt", "train_model.py"
        ]  # fmt: skip
        entry = archive.extractfile("hpo.py").read().decode()
    assert "from model_code.hpo import main" in entry


def test_sourcedir_needs_both_training_scripts(tmp_path):
    from common import sourcedir

    (tmp_path / "hpo.py").write_text("print('hi')\n")
    with pytest.raises(FileNotFoundError, match=r"train_model\.py"):
        sourcedir.build_archive(tmp_path)


@pytest.mark.parametrize(
    ("described", "outcome"),
    [
        ({"HyperParameterTuningJobStatus": "InProgress"}, "InProgress"),
        ({"HyperParameterTuningJobStatus": "Completed", "BestTrainingJob": {"TrainingJobName": "t"}}, "Completed"),
        (
            {"HyperParameterTuningJobStatus": "Failed", "FailureReason": "All training jobs failed"},
            "All training jobs failed",
        ),
        ({"HyperParameterTuningJobStatus": "Completed"}, "without a successful trial"),
    ],
)
def test_check_tuning(described, outcome, stubbed):
    from check_status import app
    from common import status

    minimal = {
        "HyperParameterTuningJobName": "x", "HyperParameterTuningJobArn": ARN.format("hyper-parameter-tuning-job"),
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 1}},
        "CreationTime": datetime.datetime.now(), "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {},
    }  # fmt: skip
    if "BestTrainingJob" in described:
        described["BestTrainingJob"] |= {
            "TunedHyperParameters": {}, "TrainingJobArn": ARN.format("training-job"),
            "CreationTime": datetime.datetime.now(), "TrainingJobStatus": "Completed",
        }  # fmt: skip
    stubbed("sagemaker").add_response("describe_hyper_parameter_tuning_job", minimal | described)
    event = load_event("check_status_tuning")
    if outcome in ("InProgress", "Completed"):
        result = call(app, event)
        assert result["status"] == outcome and result["polls"] == event["job"]["polls"] + 1
    else:
        with pytest.raises(status.TuningJobFailed, match=outcome):
            call(app, event)


def test_waits_are_bounded(stubbed):
    from check_status import app
    from common import status

    stubbed("sagemaker").add_response(
        "describe_training_job",
        {"TrainingJobName": "x", "TrainingJobArn": ARN.format("training-job"), "TrainingJobStatus": "InProgress",
         "SecondaryStatus": "Training", "AlgorithmSpecification": {"TrainingInputMode": "File"},
         "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m"}, "ResourceConfig": {"VolumeSizeInGB": 1},
         "StoppingCondition": {}, "CreationTime": datetime.datetime.now()},
    )  # fmt: skip
    event = load_event("check_status_training") | {"max_polls": 1}
    with pytest.raises(status.WaitTimedOut, match="still in progress after 1 checks"):
        call(app, event)


def test_endpoint_rolled_back_is_a_failure():
    from common import status

    assert status.endpoint_status({"EndpointStatus": "InService", "EndpointConfigName": "new"}, "new") == "Completed"
    assert status.endpoint_status({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, "new") == "InProgress"
    with pytest.raises(status.EndpointDeploymentFailed, match=r"health check failed.*still serving old"):
        status.endpoint_status(
            {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "health check failed"}, "new"
        )
    with pytest.raises(status.EndpointDeploymentFailed, match="image not found"):
        status.endpoint_status({"EndpointStatus": "Failed", "FailureReason": "image not found"}, "new")
    # back on the configuration the update replaced: rolled back, with or without a reason
    with pytest.raises(status.EndpointDeploymentFailed, match=r"the update was rolled back \(still serving old\)"):
        status.endpoint_status({"EndpointStatus": "InService", "EndpointConfigName": "old"}, "new", "old")
    # on a later run's configuration: that run waited for ours to be InService, then updated again
    later = {"EndpointStatus": "InService", "EndpointConfigName": "later"}
    assert status.endpoint_status(later, "new", "old") == "Completed"


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating"])
def test_deploy_waits_its_turn_while_another_run_changes_the_endpoint(stubbed, status):
    from deploy import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
    sagemaker.add_response("describe_endpoint", described_endpoint(status))
    with pytest.raises(app.EndpointBusy, match=f"dogbreeds-endpoint is {status}: another run is changing it"):
        call(app, load_event("deploy"))


def test_deploy_losing_the_race_to_update_waits_its_turn(stubbed):
    from deploy import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"))
    sagemaker.add_response("describe_endpoint_config", live_config(serverless=False))
    sagemaker.add_client_error(
        "update_endpoint", "ValidationException", 'Cannot update in-progress endpoint "arn:...:endpoint/x".'
    )
    with pytest.raises(app.EndpointBusy, match="being changed by another run: Cannot update in-progress endpoint"):
        call(app, load_event("deploy"))


def expect_replacement(sagemaker, *live: tuple[str, dict]) -> None:
    """Deploy's first try reads the live endpoint (``live``: operation, response) and deletes it; the state
    machine's retry finds it gone and creates it."""
    for attempt in ("first try", "retry"):
        sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
        sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
        if attempt == "first try":
            for operation, response in live:
                sagemaker.add_response(operation, response)
            sagemaker.add_response("delete_endpoint", {}, {"EndpointName": "dogbreeds-endpoint"})
    sagemaker.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
    sagemaker.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")})


def test_deploy_deletes_a_failed_endpoint_and_creates_it_on_the_retry(stubbed):
    from deploy import app

    expect_replacement(stubbed("sagemaker"), ("describe_endpoint", described_endpoint("Failed")))
    with pytest.raises(app.EndpointBusy, match="was Failed: deleted, to be created again"):
        call(app, load_event("deploy"))
    assert call(app, load_event("deploy"))["action"] == "create"


def test_deploy_updates_the_live_endpoint_with_the_gated_model(stubbed):
    from common import naming
    from deploy import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"))
    sagemaker.add_response(
        "describe_endpoint_config", live_config(serverless=False), {"EndpointConfigName": "old-config"}
    )
    sagemaker.add_response("update_endpoint", {"EndpointArn": ARN.format("endpoint")})
    sent = {op: sent_requests(sagemaker, op) for op in ("CreateModel", "CreateEndpointConfig", "UpdateEndpoint")}
    run_id = "dogImages-4f0c2a9d1e7b3c55"
    result = call(app, load_event("deploy"))
    ((model,), (config,), (update,)) = sent.values()
    assert model["ModelName"] == naming.model_name("dogbreeds", run_id) == result["model_name"]
    assert model["PrimaryContainer"]["ModelDataUrl"] == load_event("deploy")["gate"]["model_data"]
    assert model["PrimaryContainer"]["Image"] == ENVIRONMENT["INFERENCE_IMAGE_URI"]
    assert model["PrimaryContainer"]["Environment"]["MODEL_TEST_ACCURACY"] == "0.830000"  # what the gate reads back
    assert model["ExecutionRoleArn"] == ENVIRONMENT["SAGEMAKER_ROLE_ARN"]
    (variant,) = config["ProductionVariants"]
    assert (config["EndpointConfigName"], variant["ModelName"]) == (result["config_name"], model["ModelName"])
    assert variant["InstanceType"] == "ml.m5.large"
    assert (update["EndpointName"], update["EndpointConfigName"]) == ("dogbreeds-endpoint", result["config_name"])
    assert update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    rollback_alarms = update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert rollback_alarms == [{"AlarmName": ENVIRONMENT["ROLLBACK_ALARM_NAME"]}]
    assert result["action"] == "update"


def live_config(serverless: bool) -> dict:
    """DescribeEndpointConfig of the configuration the endpoint serves (old-config)."""
    variant = {"VariantName": "AllTraffic", "ModelName": "old-model"}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": 2}
    else:
        variant |= {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    return {
        "EndpointConfigName": "old-config", "EndpointConfigArn": ARN.format("endpoint-config"),
        "CreationTime": datetime.datetime.now(), "ProductionVariants": [variant],
    }  # fmt: skip


@pytest.mark.parametrize("serving_serverless", [True, False])
def test_deploy_replaces_an_endpoint_whose_type_changed(stubbed, monkeypatch, serving_serverless):
    """ServerlessInference flipped since the endpoint was made: SageMaker cannot update across types, so the
    endpoint is deleted and, on the state machine's retry, created again under its name with the new config."""
    from deploy import app

    monkeypatch.setenv("SERVERLESS_INFERENCE", "false" if serving_serverless else "true")
    expect_replacement(
        stubbed("sagemaker"),
        ("describe_endpoint", described_endpoint("InService")),
        ("describe_endpoint_config", live_config(serving_serverless)),
    )
    kind = "instance-based" if serving_serverless else "serverless"
    with pytest.raises(app.EndpointBusy, match=f"cannot be updated to {kind}: deleted, to be created again"):
        call(app, load_event("deploy"))
    assert call(app, load_event("deploy"))["action"] == "create"


def described_endpoint(status: str) -> dict:
    now = datetime.datetime.now()
    return {
        "EndpointName": "dogbreeds-endpoint",
        "EndpointArn": ARN.format("endpoint"),
        "EndpointConfigName": "old-config",
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }


def test_training_waits_for_its_rules():
    from common import status

    running_rule = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "InProgress"}]
    assert (
        status.training_status({"TrainingJobStatus": "Completed", "DebugRuleEvaluationStatuses": running_rule})
        == "InProgress"
    )
    with pytest.raises(status.TrainingJobFailed, match="AlgorithmError"):
        status.training_status({"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: exit 1"})


def test_pick_best_types_the_hyperparameters():
    from pick_best import app

    tuned = {"lr": "0.0031", "batch-size": '"64"', "fine-tune": "full"}
    objective = {"MetricName": "valid_accuracy", "Value": 0.84}
    best = app.best_trial(
        {"BestTrainingJob": {"TrainingJobName": "t-002", "TunedHyperParameters": tuned,
                             "FinalHyperParameterTuningJobObjectiveMetric": objective}}
    )  # fmt: skip
    assert best == {
        "training_job_name": "t-002",
        "hyperparameters": {"lr": 0.0031, "batch-size": 64, "fine-tune": "full"},
        "objective": {"metric": "valid_accuracy", "value": 0.84},
    }


TRAINED = {
    "FinalMetricDataList": [{"MetricName": "test_accuracy", "Value": 0.83}, {"MetricName": "test_loss", "Value": 0.6}],
    "DebugRuleEvaluationStatuses": [
        {"RuleConfigurationName": "LossNotDecreasing", "RuleEvaluationStatus": "NoIssuesFound"},
        {"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "NoIssuesFound"},
        {"RuleConfigurationName": "Overtraining", "RuleEvaluationStatus": "IssuesFound"},
        {
            "RuleConfigurationName": "ProfilerReport",
            "RuleEvaluationStatus": "Error",
            "StatusDetails": "the trial holds no data",
        },
    ],
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/t/output/model.tar.gz"},
}


def test_quality_gate_decisions():
    from quality_gate.app import ModelRejected, decide

    verdict = decide(TRAINED, 0.6, {"LossNotDecreasing", "Overfit"}, served=0.8)
    assert verdict["test_accuracy"] == 0.83 and verdict["model_data"].endswith("model.tar.gz")
    assert verdict["rules"]["Overtraining"] == {"service": "IssuesFound"}  # not configured as critical
    with pytest.raises(ModelRejected, match=r"below the threshold 0\.9000"):
        decide(TRAINED, 0.9, set(), None)
    with pytest.raises(ModelRejected, match=r"critical Debugger rule.*Overtraining"):
        decide(TRAINED, 0.6, {"Overtraining"}, None)
    with pytest.raises(ModelRejected, match=r"ProfilerReport \(service\): Error \(the trial holds no data\)"):
        decide(TRAINED, 0.6, {"Overfit", "ProfilerReport"}, None)
    with pytest.raises(ModelRejected, match="PoorWeightInitialization: not configured on the training job"):
        decide(TRAINED, 0.6, {"PoorWeightInitialization"}, None)
    with pytest.raises(ModelRejected, match=r"worse than the served model's 0\.9000"):
        decide(TRAINED, 0.6, set(), 0.9)
    with pytest.raises(ModelRejected, match="reported no test_accuracy"):
        decide({"FinalMetricDataList": []}, 0.6, set(), None)


def judged_by_the_job(**codes: int) -> dict:
    """A job without the Debugger service: its verdicts are metric lines (0 NoIssuesFound, 1 IssuesFound, 2 Error)."""
    verdicts = [{"MetricName": f"debugger_rule_{rule}", "Value": float(code)} for rule, code in codes.items()]
    return {
        **TRAINED,
        "FinalMetricDataList": TRAINED["FinalMetricDataList"] + verdicts,
        "DebugRuleEvaluationStatuses": [],
    }


def test_quality_gate_reads_the_jobs_own_rule_verdicts():
    from quality_gate.app import ModelRejected, decide

    healthy = judged_by_the_job(LossNotDecreasing=0, Overfit=0, Overtraining=1)
    verdict = decide(healthy, 0.6, {"LossNotDecreasing", "Overfit"}, None)
    assert verdict["rules"] == {
        "LossNotDecreasing": {"job": "NoIssuesFound"}, "Overfit": {"job": "NoIssuesFound"},
        "Overtraining": {"job": "IssuesFound"},
    }  # fmt: skip
    with pytest.raises(ModelRejected, match=r"found issues: Overfit \(job\): IssuesFound"):
        decide(judged_by_the_job(LossNotDecreasing=0, Overfit=1), 0.6, {"LossNotDecreasing", "Overfit"}, None)
    with pytest.raises(ModelRejected, match=r"LossNotDecreasing \(job\): Error"):
        decide(judged_by_the_job(LossNotDecreasing=2, Overfit=0), 0.6, {"LossNotDecreasing", "Overfit"}, None)
    with pytest.raises(ModelRejected, match="Overfit: not configured on the training job"):
        decide(judged_by_the_job(LossNotDecreasing=0), 0.6, {"LossNotDecreasing", "Overfit"}, None)


def test_quality_gate_needs_the_job_and_the_service_to_agree():
    from quality_gate.app import ModelRejected, decide

    both = {
        **judged_by_the_job(LossNotDecreasing=0, Overfit=0),
        "DebugRuleEvaluationStatuses": TRAINED["DebugRuleEvaluationStatuses"],
    }
    assert decide(both, 0.6, {"LossNotDecreasing", "Overfit"}, None)["rules"]["Overfit"] == {
        "job": "NoIssuesFound", "service": "NoIssuesFound",
    }  # fmt: skip
    service_flags = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound"}]
    with pytest.raises(ModelRejected, match=r"Overfit \(job\): NoIssuesFound, Overfit \(service\): IssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_flags}, 0.6, {"Overfit"}, None)
    service_running = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "Stopped"}]
    with pytest.raises(ModelRejected, match="did not evaluate to NoIssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_running}, 0.6, {"Overfit"}, None)


def test_quality_gate_reads_the_served_models_accuracy_back_from_sagemaker(stubbed):
    from quality_gate import app

    event = load_event("quality_gate")
    now = datetime.datetime.now()
    training = {
        "TrainingJobName": event["training"]["name"], "TrainingJobArn": ARN.format("training-job"),
        "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed", "CreationTime": now,
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"VolumeSizeInGB": 1},
        "StoppingCondition": {}, **TRAINED,
    }  # fmt: skip
    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_training_job", training, {"TrainingJobName": event["training"]["name"]})
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"), {"EndpointName": "dogbreeds-endpoint"})
    config = {
        "EndpointConfigName": "old-config", "EndpointConfigArn": ARN.format("endpoint-config"), "CreationTime": now,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "old-model"}],
    }  # fmt: skip
    sagemaker.add_response("describe_endpoint_config", config, {"EndpointConfigName": "old-config"})
    served = {
        "ModelName": "old-model", "ModelArn": ARN.format("model"), "CreationTime": now,
        "PrimaryContainer": {"Image": "img", "Environment": {"MODEL_TEST_ACCURACY": "0.810000"}},
    }  # fmt: skip
    sagemaker.add_response("describe_model", served, {"ModelName": "old-model"})
    verdict = call(app, event)
    assert (verdict["test_accuracy"], verdict["served_accuracy"]) == (0.83, 0.81)
    assert verdict["model_data"] == TRAINED["ModelArtifacts"]["S3ModelArtifacts"]


RUN_ID = "dogImages-4f0c2a9d1e7b3c55"  # the run of events/pipeline/notify_failure.json and execution_timed_out.json


def run_jobs(stubbed, tuning: str | None, training: str | None) -> list[str]:
    """The run's jobs as SageMaker describes them (None: never created); the stops expected of NotifyFailure."""
    from common import naming

    sagemaker = stubbed("sagemaker")
    tuning_name = naming.tuning_job_name("dogbreeds", RUN_ID)
    training_name = naming.training_job_name("dogbreeds", RUN_ID)
    if tuning is None:
        sagemaker.add_client_error("describe_hyper_parameter_tuning_job", "ResourceNotFound", http_status_code=400)
    else:
        sagemaker.add_response(
            "describe_hyper_parameter_tuning_job",
            {
                "HyperParameterTuningJobName": tuning_name, "HyperParameterTuningJobArn": ARN.format("tuning"),
                "HyperParameterTuningJobConfig": {
                    "Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 1}
                },
                "HyperParameterTuningJobStatus": tuning, "CreationTime": datetime.datetime.now(),
                "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {},
            },
            {"HyperParameterTuningJobName": tuning_name},
        )  # fmt: skip
    if tuning == "InProgress":
        sagemaker.add_response("stop_hyper_parameter_tuning_job", {}, {"HyperParameterTuningJobName": tuning_name})
    if training is None:
        sagemaker.add_client_error(
            "describe_training_job", "ValidationException", "Requested resource not found.", http_status_code=400
        )
    else:
        sagemaker.add_response(
            "describe_training_job",
            {"TrainingJobName": training_name, "TrainingJobArn": ARN.format("training-job"),
             "TrainingJobStatus": training, "SecondaryStatus": "Training",
             "AlgorithmSpecification": {"TrainingInputMode": "File"},
             "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m"}, "ResourceConfig": {"VolumeSizeInGB": 1},
             "StoppingCondition": {}, "CreationTime": datetime.datetime.now()},
            {"TrainingJobName": training_name},
        )  # fmt: skip
    if training == "InProgress":
        sagemaker.add_response("stop_training_job", {}, {"TrainingJobName": training_name})
    return [name for name, status in ((tuning_name, tuning), (training_name, training)) if status == "InProgress"]


def test_notify_failure_publishes_execution_state_and_cause(stubbed):
    from notify_failure import app

    expected = {
        "execution": load_event("notify_failure")["execution"],
        "failed_state": "CheckTraining",
        "error": "TrainingJobFailed",
        "cause": "AlgorithmError: ExecuteUserScriptError: exit code 1",
        "stopped_jobs": run_jobs(stubbed, tuning="Completed", training="Failed"),
    }
    assert expected["stopped_jobs"] == []
    stubbed("sns").add_response(
        "publish",
        {"MessageId": "m-1"},
        {
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:dogbreeds-failures",
            "Subject": "Dog-breed pipeline failed in CheckTraining: TrainingJobFailed",
            "Message": json.dumps(expected),
        },
    )
    assert call(app, load_event("notify_failure")) == expected


@pytest.mark.parametrize(
    ("tuning", "training"), [("InProgress", None), ("Completed", "InProgress"), (None, None), ("Stopping", None)]
)
def test_notify_failure_stops_what_the_run_still_runs(stubbed, tuning, training):
    """Only InProgress jobs are stopped (a tuning job takes its trials with it); a job never created is skipped."""
    from notify_failure import app

    stopped = run_jobs(stubbed, tuning, training)
    stubbed("sns").add_response("publish", {"MessageId": "m-3"})
    assert call(app, load_event("notify_failure"))["stopped_jobs"] == stopped
    assert len(stopped) == [tuning, training].count("InProgress")


def test_notify_failure_reports_a_run_that_timed_out_outside_the_catch(stubbed):
    """EventBridge's event names the execution; the run id is its name, and the job names follow from it."""
    from notify_failure import app

    event = load_event("execution_timed_out")
    expected = {
        "execution": event["detail"]["executionArn"],
        "failed_state": "TIMED_OUT",
        "error": "States.Timeout",
        "cause": "the execution ended TIMED_OUT before any step failed",
        "stopped_jobs": run_jobs(stubbed, tuning="Completed", training="InProgress"),
    }
    assert len(expected["stopped_jobs"]) == 1 and expected["stopped_jobs"][0].endswith("-train")
    stubbed("sns").add_response(
        "publish",
        {"MessageId": "m-2"},
        {
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:dogbreeds-failures",
            "Subject": "Dog-breed pipeline failed in TIMED_OUT: States.Timeout",
            "Message": json.dumps(expected),
        },
    )
    assert call(app, event) == expected
