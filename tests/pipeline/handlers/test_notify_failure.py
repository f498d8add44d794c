"""NotifyFailure: the failure published with its state and cause, and what the run still runs stopped.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import datetime
import json

import pytest

from tests.support.handler_calls import ARN, call
from tests.support.pipeline_steps import load_event

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
