"""The whole system on the twin: upload → Step Functions → local SageMaker → endpoint → local API.

One twin and one deployment for this package (conftest.py); small budgets from samconfig.toml's local profile.
The second run is also a warm-started one (what tests/twin used to check with a twin of its own).
"""

import io
import json
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import requests

from common import naming
from local_twin.sagemaker.jobs import split_s3_uri
from local_twin.twin import TwinError
from model_code import rule_settings
from tests.support.twin_runs import ApiProbe, clear_digit, run_pipeline

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


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


def test_upload_trains_deploys_and_the_api_answers(twin, first_run, digits_dataset):
    assert first_run.execution["status"] == "SUCCEEDED", first_run.execution
    assert "FAILED" not in first_run.states.values(), first_run.states
    assert the_endpoint(twin)["EndpointStatus"] == "InService"
    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    response = post_image(twin, sample.path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == sample.label


def metric_points(twin, name: str, dimensions: dict[str, str], namespace: str | None = None) -> list[dict]:
    namespace = namespace or twin.template.functions()["PredictFunction"].environment["POWERTOOLS_METRICS_NAMESPACE"]
    twin.api.metrics.flush()  # the API front publishes from its own thread
    now = datetime.now(UTC)
    answer = twin.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )  # fmt: skip
    return answer["Datapoints"]


def test_the_apis_answers_reach_cloudwatch_as_the_predict_function_measures_them(twin, first_run, digits_dataset):
    """On AWS, CloudWatch Logs turns the function's EMF lines into metrics; the twin does the same (emf.py)."""
    _, held_out = digits_dataset
    assert post_image(twin, clear_digit(held_out).path.read_bytes()).status_code == 200
    route = twin.template.api().routes[0]
    refused = requests.post(f"{twin.api.url}{route.path}", data=b"hello", timeout=60,
                            headers={"Content-Type": "text/plain", "x-api-key": twin.api.api_key})  # fmt: skip
    assert refused.status_code == 415
    service = {"service": twin.template.functions()["PredictFunction"].environment["POWERTOOLS_SERVICE_NAME"]}
    answered = service | {"StatusCode": "200"}
    (requests_200,) = metric_points(twin, "Requests", answered)
    (confidence,) = metric_points(twin, "TopConfidence", answered)
    (latency,) = metric_points(twin, "RequestLatency", answered)
    assert requests_200["Sum"] >= 1 and confidence["SampleCount"] >= requests_200["Sum"]  # a value per image
    assert 0.5 < confidence["Maximum"] <= 1 and latency["Minimum"] > 0
    (unsupported,) = metric_points(twin, "ClientErrors", service | {"Cause": "UnsupportedContentType"})
    assert unsupported["Sum"] >= 1
    # and API Gateway's own, which the dashboard and the alarms read
    api = twin.template.api()
    (count,) = metric_points(twin, "Count", {"ApiName": api.name, "Stage": api.stage}, "AWS/ApiGateway")
    (client_errors,) = metric_points(twin, "4XXError", {"ApiName": api.name, "Stage": api.stage}, "AWS/ApiGateway")
    assert count["Sum"] >= 2 and 1 <= client_errors["Sum"] < count["Sum"]


def test_a_whole_run_needs_no_permission_the_template_does_not_grant(twin, first_run):
    """IAM is enforced on the twin: every call of the functions, the jobs, the endpoint and the state machine
    was allowed by the roles as template.yaml writes them."""
    assert first_run.execution["status"] == "SUCCEEDED"
    assert [denied.message for denied in twin.moto.denials] == []


def final_training_job(twin) -> dict:
    sagemaker = twin.client("sagemaker")
    (name,) = [name for name in sagemaker_job_names(twin) if name.endswith("-train")]
    return sagemaker.describe_training_job(TrainingJobName=name)


def job_verdicts(described: dict) -> dict[str, str]:
    return {
        rule: rule_settings.verdict_from_metric(metric["Value"])
        for metric in described["FinalMetricDataList"]
        for rule in rule_settings.RULE_NAMES
        if metric["MetricName"] == rule_settings.verdict_metric(rule)
    }


def test_the_default_gate_deployed_a_model_the_job_judged_itself(twin, first_run):
    """The template's defaults (CriticalRules=LossNotDecreasing,Overfit; DebuggerService=false), not a profile
    override: no Debugger service field was sent, the job evaluated every loss rule on its own trial, and
    the gate deployed on those verdicts."""
    assert twin.template.parameters["CriticalRules"] == "LossNotDecreasing,Overfit"
    assert twin.template.parameters["DebuggerService"] == "false"
    assert first_run.execution["status"] == "SUCCEEDED", first_run.execution
    described = final_training_job(twin)
    assert not {"DebugHookConfig", "DebugRuleConfigurations", "ProfilerConfig"} & set(described)
    assert job_verdicts(described) == dict.fromkeys(rule_settings.RULE_NAMES, "NoIssuesFound")
    bucket, key = split_s3_uri(described["ModelArtifacts"]["S3ModelArtifacts"])
    output = twin.client("s3").get_object(Bucket=bucket, Key=key.replace("model.tar.gz", "output.tar.gz"))
    with tarfile.open(fileobj=io.BytesIO(output["Body"].read())) as archive:
        names = archive.getnames()
        verdicts = json.loads(archive.extractfile(rule_settings.VERDICTS_FILE).read())
    assert any(name.startswith("debug-output/events/") for name in names), names  # the trial, in the job's record
    assert {rule: verdict["verdict"] for rule, verdict in verdicts.items()} == job_verdicts(described)


def test_with_the_debugger_service_its_rule_jobs_agree_with_the_jobs_own(twin, first_run):
    """The same final training job, asked with DebuggerService=true: the hook configuration is honoured (the
    trial reaches DebugHookConfig's S3 path), the service's rule jobs and the job's own evaluation judge
    the healthy run alike."""
    from common.sagemaker_requests import debugger_service_configuration

    sagemaker = twin.client("sagemaker")
    first = final_training_job(twin)
    name = first["TrainingJobName"].replace("-train", "-svc")
    jobs = first["OutputDataConfig"]["S3OutputPath"].replace("/models/", "/jobs/") + name
    keep = ("AlgorithmSpecification", "RoleArn", "HyperParameters", "InputDataConfig", "OutputDataConfig",
            "ResourceConfig", "StoppingCondition")  # fmt: skip
    request = {key: first[key] for key in keep} | debugger_service_configuration(jobs, "rules:latest", 3)
    request["HyperParameters"] = first["HyperParameters"] | {"epochs": "3"}  # Overtraining: "not enough epochs"
    sagemaker.create_training_job(TrainingJobName=name, **request)
    described = twin.sagemaker.training.wait(name).describe()
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    bucket, prefix = split_s3_uri(described["DebugHookConfig"]["S3OutputPath"])
    listed = twin.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    assert any("/events/" in item["Key"] for item in listed.get("Contents", []))
    rule_jobs = described["DebugRuleEvaluationStatuses"]
    service = {rule["RuleConfigurationName"]: rule["RuleEvaluationStatus"] for rule in rule_jobs}
    assert service == job_verdicts(described) == dict.fromkeys(rule_settings.RULE_NAMES, "NoIssuesFound")
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


@pytest.fixture(scope="module")
def second_run(twin, first_run, digits_zip, digits_dataset):
    """The same images uploaded again, probed through the API while it runs: the endpoint before, the run, the
    probe's answers and the image it posted."""
    _, held_out = digits_dataset
    image = clear_digit(held_out).path.read_bytes()
    before = the_endpoint(twin)
    with ApiProbe(lambda: post_image(twin, image).status_code, lambda: the_endpoint(twin)["EndpointStatus"]) as probe:
        run = run_pipeline(twin, digits_zip, "digits-again.zip")
    return before, run, probe, image


def test_second_run_updates_the_endpoint_in_place(twin, second_run, digits_dataset):
    before, run, probe, image = second_run
    _, held_out = digits_dataset
    assert run.execution["status"] == "SUCCEEDED", run.execution
    after = the_endpoint(twin)
    assert (after["EndpointName"], after["EndpointStatus"]) == (before["EndpointName"], "InService")
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    assert {status for status, _ in probe.answers} == {200}, probe.answers
    assert any(endpoint_status == "Updating" for _, endpoint_status in probe.answers), probe.answers
    assert json.loads(post_image(twin, image).content)["predictions"][0]["label"] == clear_digit(held_out).label


def tuning_job_of(twin, run) -> str:
    """The tuning job a run started (its execution's name is the run id)."""
    return naming.tuning_job_name(twin.template.parameters["SageMakerNamePrefix"], run.execution["name"])


def test_the_second_runs_tuning_warm_starts_from_the_first_and_its_best(twin, first_run, second_run):
    """Tuning learns from earlier runs: the same images and code again name the first run's tuning job as the
    parent (IdenticalDataAndAlgorithm; the corrupt-images run's tuning job failed, so it is no parent), and the
    search's history starts with the parent's scored trials, its best among them."""
    _, run, _, _ = second_run
    sagemaker = twin.client("sagemaker")
    first = tuning_job_of(twin, first_run)
    parent = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=first)
    second = tuning_job_of(twin, run)
    described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=second)
    assert described["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": first}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    parent_trials = sum(parent["TrainingJobStatusCounters"].values())
    seeded = twin.sagemaker.tuning.get(second).study.trials[:parent_trials]  # the history before its own trials
    best = parent["BestTrainingJob"]
    assert [trial.number for trial in seeded] == list(range(parent_trials))
    assert any(
        trial.value == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        and same_values(trial.params, best["TunedHyperParameters"])
        for trial in seeded
    ), (seeded, best)


def same_values(params: dict, tuned: dict[str, str]) -> bool:
    """optuna's typed values against SageMaker's strings (floats as written, categories as they are)."""
    return params.keys() == tuned.keys() and all(
        str(params[name]) == text or float(params[name]) == float(text) for name, text in tuned.items()
    )


def test_nothing_runs_for_uploads_outside_the_prefix(twin):
    known = {execution["executionArn"] for execution in twin.executions()}
    twin.client("s3").upload_fileobj(io.BytesIO(b"x"), twin.aws.bucket, "elsewhere/digits.zip")
    with pytest.raises(TwinError, match="no execution started"):
        twin.wait_for_new_execution(known, timeout=5)
