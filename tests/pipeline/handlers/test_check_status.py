"""CheckStatus: each job's and the endpoint's status read as the state machine needs it, and bounded waits.

Through its real Lambda handler (and common/status.py), with Stubbed AWS clients and the sample events."""

import datetime
import json

import pytest

from tests.support.handler_calls import ARN, call
from tests.support.pipeline_steps import load_event


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


def test_training_waits_for_its_rules():
    from common import status

    running_rule = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "InProgress"}]
    assert (
        status.training_status({"TrainingJobStatus": "Completed", "DebugRuleEvaluationStatuses": running_rule})
        == "InProgress"
    )
    with pytest.raises(status.TrainingJobFailed, match="AlgorithmError"):
        status.training_status({"TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: exit 1"})


def emf_records(stdout: str) -> list[dict]:
    return [record for record in map(json.loads, filter(None, stdout.splitlines())) if "_aws" in record]


def test_a_finished_job_reports_how_long_it_ran_and_a_running_one_nothing(stubbed, capsys):
    from check_status import app

    created = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)
    training = {
        "TrainingJobName": "x", "TrainingJobArn": ARN.format("training-job"), "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"VolumeSizeInGB": 1},
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m"}, "StoppingCondition": {}, "CreationTime": created,
    }  # fmt: skip
    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_training_job", training | {"TrainingJobStatus": "InProgress"})
    sagemaker.add_response(
        "describe_training_job", training | {"TrainingJobStatus": "Completed", "TrainingTimeInSeconds": 754}
    )
    event = load_event("check_status_training")
    assert call(app, event)["status"] == "InProgress"
    assert not any("JobSeconds" in record for record in emf_records(capsys.readouterr().out))
    assert call(app, event)["status"] == "Completed"
    (record,) = [record for record in emf_records(capsys.readouterr().out) if "JobSeconds" in record]
    assert (record["JobSeconds"], record["JobKind"]) == ([754.0], "training")
    assert record["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "JobSeconds", "Unit": "Seconds"}]


def test_a_tuning_job_ran_from_its_creation_to_its_end():
    from common import status

    created = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)
    ended = created + datetime.timedelta(minutes=42, seconds=5)
    assert status.tuning_seconds({"CreationTime": created, "HyperParameterTuningEndTime": ended}) == 2525.0
    assert status.tuning_seconds({"CreationTime": created}) is None
    started = created + datetime.timedelta(minutes=3)
    assert status.training_seconds({"TrainingStartTime": started, "TrainingEndTime": ended}) == 2345.0
