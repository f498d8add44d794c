"""What a run leaves in an account besides its jobs, as the local SageMaker leaves it: a stop that takes effect
later, the Experiments resources tuning creates, the jobs' and endpoints' logs. scripts/aws_smoke.py's teardown
removes them (tests/twin/test_aws_smoke.py)."""

import time

import pytest
from botocore.exceptions import ClientError

from local_twin.account import ACCOUNT_ID
from local_twin.moto_stack import client
from local_twin.sagemaker import authorization
from local_twin.sagemaker.jobs import LOG_GROUP
from tests.support.local_sagemaker import BUCKET, run_tuning, training_request, tuning_request, wait

pytestmark = pytest.mark.enable_socket  # a local SageMaker on loopback, its jobs' S3 on a moto server

ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}"


def arn(kind: str, name: str) -> str:
    return f"{ARN}:{kind}/{name}"


def until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.2)


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_stopped_job_stays_stopping_until_its_model_is_uploaded(local_sagemaker, moto_url):
    """StopTrainingJob returns at once; the job is Stopping until its last uploads are made, then Stopped."""
    service, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-late-upload", sleep=600))
    wait_for_training = lambda: sagemaker.describe_training_job(TrainingJobName="lsm-late-upload")  # noqa: E731
    until(lambda: service.training.get("lsm-late-upload").secondary == "Training", "the script's start")
    service.faults.stopping_describes = 3
    try:
        sagemaker.stop_training_job(TrainingJobName="lsm-late-upload")
    finally:
        service.faults.stopping_describes = 0
    s3 = client("s3", moto_url, "us-east-1")
    key = "models/lsm-late-upload/output/model.tar.gz"
    seen = [wait_for_training()["TrainingJobStatus"] for _ in range(2)]
    assert seen == ["Stopping", "Stopping"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=key)  # not yet uploaded
    code, message = error_of(lambda: sagemaker.stop_training_job(TrainingJobName="lsm-late-upload"))
    assert code == "ValidationException" and "status Stopping" in message
    described = wait(wait_for_training, "TrainingJobStatus", 60)  # the third describe lets it finish
    assert described["TrainingJobStatus"] == "Stopped"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] > 0  # the late upload a teardown must outwait


def test_a_stopped_tuning_job_is_stopping_until_its_trials_have_stopped(local_sagemaker):
    service, sagemaker, _ = local_sagemaker
    ranges = {"CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8", "64"]}]}
    limits = {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1}
    request = tuning_request("lsm-hpo-stop", "Grid", limits, ranges)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["sleep"] = "600"
    sagemaker.create_hyper_parameter_tuning_job(**request)
    name = "lsm-hpo-stop"
    describe = lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)  # noqa: E731
    until(lambda: describe()["TrainingJobStatusCounters"]["InProgress"] == 1, "the first trial's creation")
    (trial,) = service.tuning.get(name).trials
    # training, not waiting for a free slot (a queued trial that is stopped never starts: Stopped at once)
    until(lambda: service.training.get(trial["name"]).secondary == "Training", "the first trial's training")
    service.faults.stopping_describes = 1_000  # the trial stays Stopping: so does its tuning job
    try:
        sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    finally:
        service.faults.stopping_describes = 0
    assert describe()["HyperParameterTuningJobStatus"] == "Stopping"
    service.training.get(trial["name"]).stop_released.set()
    described = wait(describe, "HyperParameterTuningJobStatus", 60)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="lsm-hpo-stop")
    assert {t["TrainingJobStatus"] for t in trials["TrainingJobSummaries"]} == {"Stopped"}


@pytest.mark.slow
def test_tuning_creates_an_experiment_that_deletes_only_in_aws_order(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    ranges = {"CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8", "16", "64"]}]}
    run_tuning(sagemaker, "lsm-hpo-exp", "Grid", {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2}, ranges)
    experiment = "lsm-hpo-exp-aws-tuning-job"
    described = sagemaker.describe_experiment(ExperimentName=experiment)
    assert described["Source"]["SourceArn"] == arn("hyper-parameter-tuning-job", "lsm-hpo-exp")
    first = sagemaker.list_trials(ExperimentName=experiment, MaxResults=2)
    assert len(first["TrialSummaries"]) == 2 and "NextToken" in first  # pages, as SageMaker's List calls do
    trials = [t["TrialName"] for page in sagemaker.get_paginator("list_trials").paginate(ExperimentName=experiment)
              for t in page["TrialSummaries"]]  # fmt: skip
    assert len(trials) == 3
    (component,) = sagemaker.list_trial_components(TrialName=trials[0])["TrialComponentSummaries"]
    assert component["TrialComponentName"].endswith("-aws-training-job")
    code, _ = error_of(lambda: sagemaker.list_trial_components(TrialName=trials[0], ExperimentName=experiment))
    assert code == "ValidationException"  # one filter at a time
    # every step refused until the one before it is done
    assert error_of(lambda: sagemaker.delete_experiment(ExperimentName=experiment))[0] == "ValidationException"
    assert error_of(lambda: sagemaker.delete_trial(TrialName=trials[0]))[0] == "ValidationException"
    name = component["TrialComponentName"]
    assert error_of(lambda: sagemaker.delete_trial_component(TrialComponentName=name))[0] == "ValidationException"
    for trial in trials:
        for summary in sagemaker.list_trial_components(TrialName=trial)["TrialComponentSummaries"]:
            sagemaker.disassociate_trial_component(TrialComponentName=summary["TrialComponentName"], TrialName=trial)
            sagemaker.delete_trial_component(TrialComponentName=summary["TrialComponentName"])
        sagemaker.delete_trial(TrialName=trial)
    sagemaker.delete_experiment(ExperimentName=experiment)
    code, _ = error_of(lambda: sagemaker.describe_experiment(ExperimentName=experiment))
    assert code == "ResourceNotFound"


def test_a_training_job_gets_a_trial_component_of_its_own(local_sagemaker):
    _, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-component", epochs=1))
    wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-component"), "TrainingJobStatus")
    described = sagemaker.describe_trial_component(TrialComponentName="lsm-component-aws-training-job")
    assert described["Source"]["SourceArn"] == arn("training-job", "lsm-component")
    assert sagemaker.list_trials(TrialComponentName="lsm-component-aws-training-job")["TrialSummaries"] == []
    sagemaker.delete_trial_component(TrialComponentName="lsm-component-aws-training-job")


def test_a_job_writes_its_output_to_the_training_jobs_log_group(local_sagemaker, moto_url):
    _, sagemaker, _ = local_sagemaker
    sagemaker.create_training_job(**training_request("lsm-logged", epochs=1))
    wait(lambda: sagemaker.describe_training_job(TrainingJobName="lsm-logged"), "TrainingJobStatus")
    logs = client("logs", moto_url, "us-east-1")
    (stream,) = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="lsm-logged/")["logStreams"]
    assert stream["logStreamName"].startswith("lsm-logged/algo-1-")
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"])["events"]
    assert any("test_accuracy=0.9100" in event["message"] for event in events)


@pytest.mark.parametrize(
    ("operation", "params", "resources"),
    [
        ("DeleteExperiment", {"ExperimentName": "e"}, [arn("experiment", "e")]),
        ("DeleteTrial", {"TrialName": "t"}, [arn("experiment-trial", "t")]),
        ("DeleteTrialComponent", {"TrialComponentName": "c"}, [arn("experiment-trial-component", "c")]),
        ("DescribeTrialComponent", {"TrialComponentName": "c"}, [arn("experiment-trial-component", "c")]),
        ("DisassociateTrialComponent", {"TrialComponentName": "c", "TrialName": "t"},
         [arn("experiment-trial", "t"), arn("experiment-trial-component", "c")]),
        ("ListTrials", {"ExperimentName": "e"}, ["*"]),
        ("ListTrialComponents", {"TrialName": "t"}, ["*"]),
    ],
)  # fmt: skip
def test_experiment_calls_are_authorized_on_the_resources_the_service_authorization_reference_names(
    operation, params, resources
):
    needed = authorization.required(operation, params, lambda kind, name: arn(kind, name), lambda name: name)
    assert [(request.action, request.resource) for request in needed] == [
        (f"sagemaker:{operation}", resource) for resource in resources
    ]
