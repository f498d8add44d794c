"""The acceptance run's teardown steps, request by request (Stubber: each request checked against botocore's model).

tests/twin/test_aws_smoke.py runs the whole teardown against the twin; these pin the order AWS requires."""

import datetime

import boto3
import pytest
from botocore.stub import Stubber

from common import naming
from scripts import aws_smoke

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
PREFIX, RUN = "smoke", "run-1"
TUNING, FINAL = naming.tuning_job_name(PREFIX, RUN), naming.training_job_name(PREFIX, RUN)
TRIAL_JOB = f"{TUNING}-001-1a2b3c4d"


@pytest.fixture
def stub():
    stubs = []

    def make(service: str) -> Stubber:
        stubber = Stubber(boto3.client(service, region_name="us-east-1", aws_access_key_id="x",
                                       aws_secret_access_key="x"))  # fmt: skip
        stubber.activate()
        stubs.append(stubber)
        return stubber

    yield make
    for stubber in stubs:
        stubber.assert_no_pending_responses()


def tuning_described(status: str) -> dict:
    return {
        "HyperParameterTuningJobName": TUNING, "HyperParameterTuningJobArn": f"arn:x:{TUNING}",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 1}},
        "HyperParameterTuningJobStatus": status, "CreationTime": NOW,
        "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {},
    }  # fmt: skip


def training_described(name: str, status: str) -> dict:
    return {
        "TrainingJobName": name, "TrainingJobArn": f"arn:x:{name}", "TrainingJobStatus": status,
        "SecondaryStatus": status, "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 5}, "StoppingCondition": {}, "CreationTime": NOW, "ModelArtifacts": {
            "S3ModelArtifacts": "s3://b/m"},
    }  # fmt: skip


def expect_poll(sagemaker: Stubber, tuning: str, trial: str, final: str) -> None:
    trial_summary = {"TrainingJobName": TRIAL_JOB, "TrainingJobArn": "arn:x:t", "CreationTime": NOW,
                     "TrainingJobStatus": trial, "TunedHyperParameters": {}}  # fmt: skip
    trials = {"TrainingJobSummaries": [trial_summary]}
    sagemaker.add_response("list_training_jobs_for_hyper_parameter_tuning_job", trials,
                           {"HyperParameterTuningJobName": TUNING})  # fmt: skip
    sagemaker.add_response("describe_hyper_parameter_tuning_job", tuning_described(tuning),
                           {"HyperParameterTuningJobName": TUNING})  # fmt: skip
    sagemaker.add_response("describe_training_job", training_described(TRIAL_JOB, trial),
                           {"TrainingJobName": TRIAL_JOB})  # fmt: skip
    sagemaker.add_response("describe_training_job", training_described(FINAL, final), {"TrainingJobName": FINAL})


def test_the_teardown_waits_until_stopped_jobs_have_ended(stub, monkeypatch):
    """StopTrainingJob returns while the job is Stopping: the names come back only once every job has ended."""
    monkeypatch.setattr(aws_smoke.time, "sleep", lambda seconds: None)
    sagemaker = stub("sagemaker")
    expect_poll(sagemaker, "Stopping", "Stopping", "Stopping")
    expect_poll(sagemaker, "Stopped", "Stopped", "Stopping")
    expect_poll(sagemaker, "Stopped", "Stopped", "Stopped")
    assert aws_smoke.wait_for_jobs_to_end(sagemaker.client, PREFIX, RUN) == [TRIAL_JOB, FINAL]


def test_a_job_that_never_ends_is_named_in_the_timeout(stub, monkeypatch):
    monkeypatch.setattr(aws_smoke.time, "sleep", lambda seconds: None)
    sagemaker = stub("sagemaker")
    expect_poll(sagemaker, "Stopped", "Stopped", "Stopping")
    with pytest.raises(TimeoutError, match=f"still not ended 0 s after the stop: {{'{FINAL}': 'Stopping'}}"):
        aws_smoke.wait_for_jobs_to_end(sagemaker.client, PREFIX, RUN, timeout=0)


def test_experiments_are_deleted_in_the_order_aws_requires(stub):
    """Components disassociated from every trial, then deleted; trials once empty; the experiment last; then each
    job's own component, where SageMaker made one."""
    sagemaker = stub("sagemaker")
    experiment, trial, component = f"{TUNING}-aws-tuning-job", f"{TRIAL_JOB}-trial", f"{TRIAL_JOB}-aws-training-job"
    final = f"{FINAL}-aws-training-job"
    trial_summary = {"TrialName": trial}
    sagemaker.add_response("list_trials", {"TrialSummaries": [trial_summary]}, {"ExperimentName": experiment})
    sagemaker.add_response("list_trial_components", {"TrialComponentSummaries": [{"TrialComponentName": component}]},
                           {"TrialName": trial})  # fmt: skip
    sagemaker.add_response("describe_trial_component", {"TrialComponentName": component},
                           {"TrialComponentName": component})  # fmt: skip
    sagemaker.add_response("list_trials", {"TrialSummaries": [trial_summary]}, {"TrialComponentName": component})
    sagemaker.add_response("disassociate_trial_component", {}, {"TrialComponentName": component, "TrialName": trial})
    sagemaker.add_response("delete_trial_component", {}, {"TrialComponentName": component})
    sagemaker.add_response("delete_trial", {}, {"TrialName": trial})
    sagemaker.add_response("delete_experiment", {}, {"ExperimentName": experiment})
    # each job's component: the trial's is gone with its trial, the final job's is alone, a rule job made none
    sagemaker.add_client_error("describe_trial_component", "ResourceNotFound",
                               expected_params={"TrialComponentName": component})  # fmt: skip
    sagemaker.add_response("describe_trial_component", {"TrialComponentName": final}, {"TrialComponentName": final})
    sagemaker.add_response("list_trials", {"TrialSummaries": []}, {"TrialComponentName": final})
    sagemaker.add_response("delete_trial_component", {}, {"TrialComponentName": final})
    sagemaker.add_client_error("describe_trial_component", "ResourceNotFound",
                               expected_params={"TrialComponentName": "rule-job-aws-processing-job"})  # fmt: skip
    jobs = {"training": [TRIAL_JOB, FINAL], "processing": ["rule-job"]}
    assert aws_smoke.delete_experiments(sagemaker.client, TUNING, jobs) == [component, trial, experiment, final]


def test_without_a_tuning_job_there_is_no_experiment_to_delete(stub):
    sagemaker = stub("sagemaker")
    sagemaker.add_client_error("list_trials", "ResourceNotFound",
                               expected_params={"ExperimentName": f"{TUNING}-aws-tuning-job"})  # fmt: skip
    sagemaker.add_client_error("describe_trial_component", "ResourceNotFound",
                               expected_params={"TrialComponentName": f"{FINAL}-aws-training-job"})  # fmt: skip
    assert aws_smoke.delete_experiments(sagemaker.client, TUNING, {"training": [FINAL], "processing": []}) == []


def test_job_logs_go_and_only_the_groups_the_run_created_with_them():
    """The account's job log groups are shared: another job's stream stays, and so does a group that existed before
    the run; a group the run created goes once it holds nothing else (moto's CloudWatch Logs)."""
    from moto import mock_aws

    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        training, processing = aws_smoke.JOB_LOG_GROUPS
        for group, stream in ((training, f"{FINAL}/algo-1-1"), (training, "someone-else/algo-1-1"),
                              (processing, "rule-job/algo-1-1")):  # fmt: skip
            if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        before = {training}  # the processing group is the run's own
        jobs = {"training": [FINAL, TRIAL_JOB], "processing": ["rule-job"]}
        assert aws_smoke.delete_job_logs(logs, jobs, before) == 2
        assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=training)["logStreams"]] == [
            "someone-else/algo-1-1"
        ]
        assert aws_smoke.existing_log_groups(logs, aws_smoke.JOB_LOG_GROUPS) == {training}
        assert aws_smoke.delete_job_logs(logs, jobs, before) == 0  # nothing left to find: not an error


def test_the_registry_goes_versions_first_then_its_group(stub):
    sagemaker = stub("sagemaker")
    group = f"{PREFIX}-models"
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": group, "ModelPackageGroupArn": f"arn:x:{group}", "CreationTime": NOW,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": group})  # fmt: skip
    versions = [{"ModelPackageArn": f"arn:x:model-package/{group}/{n}", "CreationTime": NOW,
                 "ModelPackageStatus": "Completed", "ModelPackageGroupName": group} for n in (1, 2)]  # fmt: skip
    sagemaker.add_response("list_model_packages", {"ModelPackageSummaryList": versions},
                           {"ModelPackageGroupName": group, "ModelPackageType": "Versioned"})  # fmt: skip
    for version in versions:
        sagemaker.add_response("delete_model_package", {}, {"ModelPackageName": version["ModelPackageArn"]})
    sagemaker.add_response("delete_model_package_group", {}, {"ModelPackageGroupName": group})
    assert aws_smoke.delete_model_registry(sagemaker.client, group) == 2


def test_without_a_registry_there_is_nothing_to_delete(stub):
    sagemaker = stub("sagemaker")
    sagemaker.add_client_error(
        "describe_model_package_group", "ValidationException", "ModelPackageGroup does not exist"
    )
    assert aws_smoke.delete_model_registry(sagemaker.client, "smoke-models") is None
