"""The whole system on the twin: upload → Step Functions → local SageMaker → endpoint → local API.

One twin per session (tests/twin/conftest.py); small budgets from samconfig.toml's local profile.
"""

import io
import json
import zipfile

import pytest
import requests

from local_twin.twin import TwinError
from tests.twin.conftest import ApiProbe, run_pipeline

pytestmark = pytest.mark.slow


def post_image(twin, image_bytes: bytes) -> requests.Response:
    route = twin.template.api().routes[0]
    return requests.post(
        f"{twin.api.url}{route.path}",
        data=image_bytes,
        headers={"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key},
        timeout=60,
    )


def the_endpoint(twin) -> dict:
    sagemaker = twin.client("sagemaker")
    (summary,) = sagemaker.list_endpoints()["Endpoints"]
    return sagemaker.describe_endpoint(EndpointName=summary["EndpointName"])


def sagemaker_job_names(twin) -> set[str]:
    sagemaker = twin.client("sagemaker")
    training = {job["TrainingJobName"] for job in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]}
    tuning = sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    return training | {job["HyperParameterTuningJobName"] for job in tuning}


def clear_digit(held_out, label: str = "Zero"):
    return next(image for image in held_out if image.label == label)


def test_upload_trains_deploys_and_the_api_answers(twin, first_run, digits_dataset):
    assert first_run.execution["status"] == "SUCCEEDED", first_run.execution
    assert "FAILED" not in first_run.states.values(), first_run.states
    assert the_endpoint(twin)["EndpointStatus"] == "InService"
    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    response = post_image(twin, sample.path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == sample.label


def test_the_final_training_job_was_debugged(twin, first_run):
    """Its losses reached the DebugHookConfig path in S3, and each rule has its own status."""
    sagemaker = twin.client("sagemaker")
    (name,) = [name for name in sagemaker_job_names(twin) if name.endswith("-train")]
    described = sagemaker.describe_training_job(TrainingJobName=name)
    bucket, _, prefix = described["DebugHookConfig"]["S3OutputPath"].removeprefix("s3://").partition("/")
    listed = twin.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any("/events/" in key for key in keys) and any("/index/" in key for key in keys), keys[:10]
    statuses = {rule["RuleConfigurationName"]: rule for rule in described["DebugRuleEvaluationStatuses"]}
    for rule in ("LossNotDecreasing", "Overfit", "Overtraining"):  # evaluated on the recorded losses
        assert statuses[rule]["RuleEvaluationStatus"] in ("NoIssuesFound", "IssuesFound"), statuses[rule]
    profiler = {rule["RuleConfigurationName"]: rule for rule in described["ProfilerRuleEvaluationStatuses"]}
    assert profiler["ProfilerReport"]["RuleEvaluationStatus"] == "Error"  # needs AWS's container: said so
    assert "not evaluated" in profiler["ProfilerReport"]["StatusDetails"]


def test_invalid_zip_fails_with_its_cause_before_any_training(twin, tmp_path):
    jobs_before = sagemaker_job_names(twin)
    twin.notifications()  # drain what earlier runs published
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip archive")
    run = run_pipeline(twin, broken, "broken.zip")
    assert run.execution["status"] == "FAILED"
    assert "zip" in (run.execution.get("cause") or "").lower(), run.execution
    assert sagemaker_job_names(twin) == jobs_before
    head = twin.client("s3").head_object(Bucket=twin.aws.bucket, Key=run.key)
    assert head["ContentLength"] == broken.stat().st_size
    assert len(twin.notifications()) == 1


def corrupt_images_zip(source_zip, target):
    """The same layout (so validation passes) with every image replaced by bytes no decoder reads."""
    with zipfile.ZipFile(source_zip) as original, zipfile.ZipFile(target, "w") as corrupt:
        for info in original.infolist():
            data = original.read(info)
            corrupt.writestr(info, b"\xff\xd8\xff garbage, not a JPEG" if info.filename.endswith(".jpg") else data)
    return target


def failure_reasons(sagemaker) -> list[str]:
    """FailureReason of every failed training and tuning job (corrupt images fail the trials first)."""
    training = sagemaker.list_training_jobs(StatusEquals="Failed", MaxResults=100)["TrainingJobSummaries"]
    tuning = sagemaker.list_hyper_parameter_tuning_jobs(StatusEquals="Failed", MaxResults=100)
    jobs = [sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"]) for job in training]
    jobs += [
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job["HyperParameterTuningJobName"])
        for job in tuning["HyperParameterTuningJobSummaries"]
    ]
    return [job["FailureReason"] for job in jobs if job.get("FailureReason")]


def test_failing_training_fails_the_pipeline_with_the_jobs_reason(twin, first_run, digits_zip, tmp_path):
    endpoint_before = the_endpoint(twin)
    twin.notifications()
    run = run_pipeline(twin, corrupt_images_zip(digits_zip, tmp_path / "corrupt.zip"), "corrupt.zip")
    assert run.execution["status"] == "FAILED"
    reasons = failure_reasons(twin.client("sagemaker"))
    assert reasons, "no SageMaker job failed"
    cause = run.execution.get("cause") or ""
    assert any(reason[:60] in cause for reason in reasons), (cause, reasons)
    (message,) = twin.notifications()
    assert run.execution["executionArn"].rsplit(":", 1)[1] in message
    endpoint_after = the_endpoint(twin)
    assert endpoint_after["EndpointConfigName"] == endpoint_before["EndpointConfigName"]


def test_second_run_updates_the_endpoint_in_place(twin, first_run, digits_zip, digits_dataset):
    _, held_out = digits_dataset
    image = clear_digit(held_out).path.read_bytes()
    before = the_endpoint(twin)
    with ApiProbe(lambda: post_image(twin, image).status_code, lambda: the_endpoint(twin)["EndpointStatus"]) as probe:
        run = run_pipeline(twin, digits_zip, "digits-again.zip")
    assert run.execution["status"] == "SUCCEEDED", run.execution
    after = the_endpoint(twin)
    assert (after["EndpointName"], after["EndpointStatus"]) == (before["EndpointName"], "InService")
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    assert {status for status, _ in probe.answers} == {200}, probe.answers
    assert any(endpoint_status == "Updating" for _, endpoint_status in probe.answers), probe.answers
    assert json.loads(post_image(twin, image).content)["predictions"][0]["label"] == clear_digit(held_out).label


def test_nothing_runs_for_uploads_outside_the_prefix(twin):
    known = {execution["executionArn"] for execution in twin.executions()}
    twin.client("s3").upload_fileobj(io.BytesIO(b"x"), twin.aws.bucket, "elsewhere/digits.zip")
    with pytest.raises(TwinError, match="no execution started"):
        twin.wait_for_new_execution(known, timeout=5)
