"""StartTraining: the run's choices sent to CreateTrainingJob, the Debugger service when asked.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

from tests.support.handler_calls import ARN, call, sent_requests, sourcedir_already_uploaded
from tests.support.pipeline_steps import load_event


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
