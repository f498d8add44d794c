"""The real ASL on moto's engine with the real handlers and the twin's local SageMaker: each failure path,
the bad-dataset corpus and the injected faults (throttling, failing trials, Lambda timeouts, an update that
never gets healthy, duplicate and concurrent uploads).

Stand-in model code (tests/support/fake_model_code, seconds per job) replaces model_code/ in the
sourcedir; everything else is the twin as `make demo` runs it. Each failure ends FAILED with its cause,
publishes exactly one notification and creates nothing after the failed step; each retried fault ends
SUCCEEDED with the failed attempts in the execution's history.
"""

import base64
import json
import threading
import time

import pytest
import requests
from moto.events.models import EventPattern

from dogbreeds_cli.timeline import state_progress
from local_twin.twin import TwinError
from model_code import registry
from tests.support.pipeline_steps import load_event, plant_stand_in_model_code
from tests.support.twin_runs import ApiProbe, PipelineRun, run_pipeline
from tests.support.zips import JPEG, bad_zips, build, good_zip, layout

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)
TEST_PARAMETERS = {
    "PollIntervalSeconds": "0",  # as often as the history allows (common/poll_budget.py): a few seconds
    "CriticalRules": "",  # the stand-in training records no losses: no Debugger rule can vouch for it
}


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from common import sourcedir
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("asl-twin"), parameters=TEST_PARAMETERS) as running:
        plant_stand_in_model_code(running, sourcedir)
        yield running  # stopping it resets moto's in-process state for the next twin


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")
    return lambda name: (folder / name).write_bytes(good_zip()) and folder / name


def sagemaker_names(twin) -> dict[str, set[str]]:
    sagemaker = twin.client("sagemaker")
    tuning = sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    return {
        "tuning": {job["HyperParameterTuningJobName"] for job in tuning},
        "training": {j["TrainingJobName"] for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]},
        "endpoints": {(e["EndpointName"], e["EndpointStatus"]) for e in sagemaker.list_endpoints()["Endpoints"]},
    }


def served_dataset(twin) -> str:
    route = twin.template.api().routes[0]
    image = base64.b64decode(
        "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
        "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
    )
    answer = requests.post(f"{twin.api.url}{route.path}", data=image, timeout=30,
                           headers={"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"][0]["label"]


def registered_versions(twin) -> list[registry.Version]:
    sagemaker = twin.client("sagemaker")
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=twin.connection()["model_package_group"], ModelPackageType="Versioned",
        SortBy="CreationTime", SortOrder="Ascending", MaxResults=100,
    )["ModelPackageSummaryList"]  # fmt: skip
    return [
        registry.Version.from_described(sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))
        for summary in listed
    ]


def assert_failed_once(twin, run, state: str, cause: str) -> None:
    assert run.execution["status"] == "FAILED", run.execution
    assert cause in (run.execution.get("cause") or ""), run.execution.get("cause")
    (message,) = twin.notifications()
    published = json.loads(message)
    assert published["failed_state"] == state and cause in published["cause"]


@pytest.fixture(scope="module")
def first_run(twin, dataset) -> PipelineRun:
    """The module's first run (stand-in model code): it creates the endpoint the later runs update."""
    return run_pipeline(twin, dataset("first.zip"), "first.zip")


def test_happy_path_ends_with_an_endpoint(twin, first_run):
    run = first_run
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert served_dataset(twin) == "first.zip"
    twin.notifications()
    (version,) = registered_versions(twin)  # auto approval: registered Approved and deployed
    assert (version.number, version.approval) == (1, registry.APPROVED)
    assert version.metadata[registry.RUN_ID] == run.execution["name"]
    assert json.loads(run.execution["output"])["deployment"]["model_package_arn"] == version.arn
    (released,) = twin.notifications("ReleaseTopic")
    assert json.loads(released)["message"].startswith("v1 (test accuracy ")


def test_tuning_failed(twin, dataset):
    before = sagemaker_names(twin)
    run = run_pipeline(twin, dataset("tuning-fails.zip"), "tuning-fails.zip")
    assert_failed_once(twin, run, "CheckTuning", "All training jobs failed")
    after = sagemaker_names(twin)
    assert not any(name.endswith("-train") for name in after["training"] - before["training"])
    assert after["endpoints"] == before["endpoints"] and served_dataset(twin) == "first.zip"


def test_training_failed(twin, dataset):
    before = sagemaker_names(twin)
    run = run_pipeline(twin, dataset("training-fails.zip"), "training-fails.zip")
    assert_failed_once(twin, run, "CheckTraining", "final training failed on purpose for training-fails.zip")
    assert "AlgorithmError" in run.execution["cause"]  # the job's FailureReason, as SageMaker words it
    assert not {"QualityGate", "Deploy"} & set(run.states)
    assert sagemaker_names(twin)["endpoints"] == before["endpoints"] and served_dataset(twin) == "first.zip"


def test_quality_gate_rejects(twin, dataset):
    before = sagemaker_names(twin)
    run = run_pipeline(twin, dataset("rejected.zip"), "rejected.zip")
    assert_failed_once(twin, run, "QualityGate", "below the threshold")
    assert "Deploy" not in run.states
    rejected = registered_versions(twin)[-1]  # the history is complete: the refused model is a version too
    assert rejected.approval == registry.REJECTED and rejected.metadata[registry.DATASET_URI].endswith("/rejected.zip")
    assert sagemaker_names(twin)["endpoints"] == before["endpoints"] and served_dataset(twin) == "first.zip"


def test_endpoint_update_failure_keeps_the_old_model(twin, dataset):
    twin.faults.unhealthy_next_update = True
    with ApiProbe(lambda: served_dataset(twin), lambda: endpoint_status(twin)) as probe:
        run = run_pipeline(twin, dataset("second.zip"), "second.zip")
    assert_failed_once(twin, run, "CheckEndpoint", "health check")
    assert {label for label, _ in probe.answers} == {"first.zip"}, probe.answers  # every answer, during and after
    assert any(status == "Updating" for _, status in probe.answers), probe.answers
    assert served_dataset(twin) == "first.zip"


def endpoint_status(twin) -> str:
    (endpoint,) = twin.client("sagemaker").list_endpoints()["Endpoints"]
    return endpoint["EndpointStatus"]


def failed_attempts(twin, run: PipelineRun, error: str) -> int:
    """Lambda invocations of the execution that failed with ``error`` (retried ones included)."""
    events = twin.history(run.execution["executionArn"])
    return sum(
        1
        for event in events
        if event["type"] == "LambdaFunctionFailed" and event["lambdaFunctionFailedEventDetails"].get("error") == error
    )


@pytest.mark.parametrize("case", sorted(bad_zips()))
def test_each_bad_dataset_fails_validation_and_leaves_the_upload_as_it_was(twin, tmp_path, case):
    data, message = bad_zips()[case]
    name = f"bad-{case.replace(' ', '-').replace('(', '').replace(')', '')}.zip"
    (tmp_path / name).write_bytes(data)
    before = sagemaker_names(twin)
    run = run_pipeline(twin, tmp_path / name, name)
    assert_failed_once(twin, run, "ValidateDataset", message)
    assert sagemaker_names(twin) == before  # not one tuning or training job, no endpoint change
    s3 = twin.client("s3")
    versions = s3.list_object_versions(Bucket=twin.aws.bucket, Prefix=run.key)
    assert len(versions.get("Versions", [])) == 1 and not versions.get("DeleteMarkers"), versions
    assert s3.get_object(Bucket=twin.aws.bucket, Key=run.key)["Body"].read() == data


def test_throttling_a_failing_trial_and_a_lambda_timeout_are_retried_and_the_run_succeeds(twin, dataset):
    """Three transient faults in one run (each is retried where it happens, none depends on another): SageMaker
    throttling every call the run makes, one of the two trials failing, and PickBest timing out once."""
    throttled = {
        # more than botocore's 5 attempts: the step fails with TransientAwsError and the state machine retries it
        "CreateHyperParameterTuningJob": 6,
        "DescribeHyperParameterTuningJob": 3,
        "CreateTrainingJob": 3,
        "DescribeTrainingJob": 3,
        "CreateModel": 2,
        "CreateEndpointConfig": 2,
        "UpdateEndpoint": 2,
        "DescribeEndpoint": 3,
    }
    calls_before = dict(twin.faults.calls)
    for operation, count in throttled.items():
        twin.faults.throttle_next(operation, count)
    twin.faults.failing_trials = {1}
    twin.faults.lambda_timeouts[twin.aws.functions["PickBestFunction"].name] = 1
    try:
        run = run_pipeline(twin, dataset("faults-retried.zip"), "faults-retried.zip")
    finally:
        twin.faults.failing_trials = set()
        twin.faults.lambda_timeouts.clear()
    assert run.execution["status"] == "SUCCEEDED", run.execution
    for operation, count in throttled.items():
        assert twin.faults.calls[operation] - calls_before.get(operation, 0) > count, operation
    assert failed_attempts(twin, run, "TransientAwsError") >= 1
    assert failed_attempts(twin, run, "Sandbox.Timedout") == 1

    sagemaker = twin.client("sagemaker")
    newest = sagemaker.list_hyper_parameter_tuning_jobs(SortBy="CreationTime", SortOrder="Descending")
    name = newest["HyperParameterTuningJobSummaries"][0]["HyperParameterTuningJobName"]
    tuning = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    counters = tuning["TrainingJobStatusCounters"]
    assert (counters["NonRetryableError"], counters["Completed"]) == (1, 1), counters  # the failing trial
    assert tuning["BestTrainingJob"]["TrainingJobStatus"] == "Completed"
    assert served_dataset(twin) == "faults-retried.zip" and twin.notifications() == []


def test_a_lambda_that_keeps_timing_out_fails_the_run_with_its_cause(twin, dataset):
    twin.faults.lambda_timeouts[twin.aws.functions["PickBestFunction"].name] = 10
    try:
        before = sagemaker_names(twin)
        run = run_pipeline(twin, dataset("pick-best-times-out.zip"), "pick-best-times-out.zip")
    finally:
        twin.faults.lambda_timeouts.clear()
    assert_failed_once(twin, run, "PickBest", "Task timed out after")
    assert failed_attempts(twin, run, "Sandbox.Timedout") == 3  # the first try and the ASL's 2 retries
    assert not any(name.endswith("-train") for name in sagemaker_names(twin)["training"] - before["training"])


def test_the_same_upload_event_twice_starts_one_execution(twin, first_run):
    run = first_run
    head = twin.client("s3").head_object(Bucket=twin.aws.bucket, Key=run.key)
    event = load_event("s3_object_created")
    event["detail"]["bucket"]["name"] = twin.aws.bucket
    event["detail"]["object"] |= {
        "key": run.key,
        "version-id": head["VersionId"],
        "etag": head["ETag"].strip('"'),
        "size": head["ContentLength"],
    }
    executions = len(twin.executions())
    answer = twin.invoke_function("StartPipelineFunction", event)  # EventBridge delivering the same event again
    assert answer == {"started": False, "run_id": answer["run_id"], "reason": "duplicate delivery"}
    assert answer["run_id"] in run.execution["executionArn"]
    assert len(twin.executions()) == executions


def test_two_uploads_at_once_run_one_execution_each(twin, dataset):
    known = {execution["executionArn"] for execution in twin.executions()}
    names = ("together-a.zip", "together-b.zip")
    uploads = [threading.Thread(target=twin.upload_dataset, args=(dataset(name), name)) for name in names]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.join()
    deadline = time.monotonic() + 60
    while len(fresh := [e["executionArn"] for e in twin.executions() if e["executionArn"] not in known]) < 2:
        assert time.monotonic() < deadline, f"executions started: {fresh}"
        time.sleep(0.5)
    assert len(fresh) == 2 and len(set(fresh)) == 2
    # both deploy to the one endpoint: the later Deploy waits (EndpointBusy) until the other update is live
    outcomes = [twin.follow(arn, timeout=900) for arn in fresh]
    assert [outcome["status"] for outcome in outcomes] == ["SUCCEEDED", "SUCCEEDED"], outcomes
    assert served_dataset(twin) in names and endpoint_status(twin) == "InService"
    assert twin.notifications() == []


def test_an_upper_case_zip_of_ten_thousand_tiny_entries_starts_a_run_and_goes_through(twin, tmp_path):
    """The upload rule, matched by the twin's EventBridge (moto), and StartPipeline agree: `.zip` in any case. The
    zip is valid, only large in entry count: validated by ranged reads of its central directory, then trained on."""
    entries = layout(per_class=1) | {f"dogImages/train/001.Beagle/t_{i}.jpg": JPEG for i in range(10_000)}
    path = tmp_path / "MANY-ENTRIES.ZIP"
    path.write_bytes(build(entries))
    run = run_pipeline(twin, path, "MANY-ENTRIES.ZIP")
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert run.key.endswith("MANY-ENTRIES.ZIP") and run.states["ValidateDataset"] == "SUCCEEDED"
    assert served_dataset(twin) == "MANY-ENTRIES.ZIP"
    assert twin.notifications() == []


def test_other_suffixes_start_no_run(twin, dataset):
    known = {execution["executionArn"] for execution in twin.executions()}
    twin.upload_dataset(dataset("not-a-dataset.zip"), "not-a-dataset.zip.txt")
    with pytest.raises(TwinError, match="no execution started"):
        twin.wait_for_new_execution(known, timeout=5)


def started_run(twin, name: str, dataset) -> str:
    known = {execution["executionArn"] for execution in twin.executions()}
    twin.upload_dataset(dataset(name), name)
    return twin.wait_for_new_execution(known)


def wait_for_state(twin, execution_arn: str, state: str, status: str = "SUCCEEDED", timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not any(p.name == state and p.status == status for p in state_progress(twin.history(execution_arn))):
        assert time.monotonic() < deadline, f"{state} never {status}"
        time.sleep(0.2)


def job_status(twin, kind: str, name: str) -> str:
    """The job's status once it ended (Stopping for a moment after a stop, as on SageMaker)."""
    jobs = twin.sagemaker.training if kind == "training" else twin.sagemaker.tuning
    deadline = time.monotonic() + 60
    while jobs.get(name).status in ("InProgress", "Stopping") and time.monotonic() < deadline:
        time.sleep(0.2)
    return jobs.get(name).status


def test_a_run_that_fails_while_its_training_runs_stops_the_job(twin, dataset):
    """CheckTraining keeps timing out while the final job trains: the run fails, and that job does not go on."""
    from common import naming

    endpoints = sagemaker_names(twin)["endpoints"]
    execution_arn = started_run(twin, "slow-training.zip", dataset)
    wait_for_state(twin, execution_arn, "StartTraining")  # the job runs (for 10 minutes) from now on
    twin.faults.lambda_timeouts[twin.aws.functions["CheckStatusFunction"].name] = 3  # the try and its 2 retries
    try:
        execution = twin.follow(execution_arn, timeout=300)
    finally:
        twin.faults.lambda_timeouts.clear()
    assert execution["status"] == "FAILED", execution
    training = naming.training_job_name(twin.template.parameters["SageMakerNamePrefix"], execution["name"])
    (message,) = twin.notifications()
    published = json.loads(message)
    assert (published["failed_state"], published["stopped_jobs"]) == ("CheckTraining", [training])
    assert job_status(twin, "training", training) == "Stopped"
    assert sagemaker_names(twin)["endpoints"] == endpoints


def test_an_aborted_run_stops_its_tuning_job_and_trials(twin, dataset):
    """A run aborted while tuning never reaches the Catch: the EventBridge rule on its ABORTED status calls
    NotifyFailure (moto's Step Functions emits no status events: the twin delivers that rule's event here)."""
    from common import naming

    execution_arn = started_run(twin, "slow-tuning.zip", dataset)
    tuning = naming.tuning_job_name(twin.template.parameters["SageMakerNamePrefix"], execution_arn.split(":")[-1])
    try:
        wait_for_state(twin, execution_arn, "CheckTuning")  # the tuning job and its first trial run
        twin.client("stepfunctions").stop_execution(executionArn=execution_arn)
        execution = twin.follow(execution_arn, timeout=60)  # moto's engine ends the run once a task in flight returns
        assert execution["status"] == "ABORTED"
        assert_notified_of_abort(twin, execution, tuning)
    finally:  # its trials sleep 10 minutes in the job slots the module's later runs need
        if tuning in twin.sagemaker.tuning.jobs and twin.sagemaker.tuning.get(tuning).status == "InProgress":
            twin.client("sagemaker").stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)


def assert_notified_of_abort(twin, execution: dict, tuning: str) -> None:
    event = load_event("execution_timed_out")
    event["detail"] |= {
        "executionArn": execution["executionArn"], "stateMachineArn": twin.aws.state_machine_arn,
        "name": execution["name"], "status": "ABORTED", "error": None,
    }  # fmt: skip
    (rule,) = [rule for rule in twin.template.rules() if rule.pattern.get("source") == ["aws.states"]]
    assert EventPattern(json.dumps(rule.pattern), rule.pattern).matches_event(event)  # as EventBridge routes it
    published = twin.invoke_function("NotifyFailureFunction", event)
    assert published["stopped_jobs"] == [tuning]
    assert job_status(twin, "tuning", tuning) == "Stopped"
    trials = twin.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning
    )
    assert {trial["TrainingJobStatus"] for trial in trials["TrainingJobSummaries"]} == {"Stopped"}
    assert len(twin.notifications()) == 1


def scalable_targets(twin) -> list[dict]:
    return twin.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"
    ]


def test_switching_to_serverless_replaces_the_endpoint(twin, dataset):
    """ServerlessInference flipped on a deployed stack: the twin refuses UpdateEndpoint across types as AWS does,
    and Deploy replaces the endpoint instead, so the run succeeds and the API answers from a serverless config.
    The instance endpoint's variant was registered with Application Auto Scaling; the serverless one is not."""
    sagemaker = twin.client("sagemaker")
    if not sagemaker.list_endpoints()["Endpoints"]:
        assert run_pipeline(twin, dataset("first.zip"), "first.zip").execution["status"] == "SUCCEEDED"
    (endpoint,) = sagemaker.list_endpoints()["Endpoints"]
    (target,) = scalable_targets(twin)
    parameters = twin.template.parameters
    assert target["ResourceId"] == f"endpoint/{endpoint['EndpointName']}/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        int(parameters["EndpointMinInstances"]),
        int(parameters["EndpointMaxInstances"]),
    )
    live = sagemaker.describe_endpoint(EndpointName=endpoint["EndpointName"])["EndpointConfigName"]
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=live)["ProductionVariants"]
    assert "ServerlessConfig" not in variant  # the local profile serves from an instance
    probe = {"VariantName": "AllTraffic", "ModelName": variant["ModelName"],
             "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1}}  # fmt: skip
    sagemaker.create_endpoint_config(EndpointConfigName="type-switch-probe", ProductionVariants=[probe])
    with pytest.raises(sagemaker.exceptions.ClientError, match=r"between a real-time .* and a serverless"):
        sagemaker.update_endpoint(EndpointName=endpoint["EndpointName"], EndpointConfigName="type-switch-probe")
    sagemaker.delete_endpoint_config(EndpointConfigName="type-switch-probe")

    lambdas = twin.client("lambda")
    names = [twin.aws.functions[function].name for function in ("DeployFunction", "ScaleEndpointFunction")]
    variables = {
        name: lambdas.get_function_configuration(FunctionName=name)["Environment"]["Variables"] for name in names
    }
    for name in names:  # what `sam deploy` with ServerlessInference=true changes
        changed = variables[name] | {"SERVERLESS_INFERENCE": "true"}
        lambdas.update_function_configuration(FunctionName=name, Environment={"Variables": changed})
    try:
        run = run_pipeline(twin, dataset("now-serverless.zip"), "now-serverless.zip")
    finally:
        for name in names:
            lambdas.update_function_configuration(FunctionName=name, Environment={"Variables": variables[name]})
    assert run.execution["status"] == "SUCCEEDED", run.execution
    assert failed_attempts(twin, run, "EndpointBusy") >= 1  # deleted on the first try, created on a retry
    replaced = sagemaker.describe_endpoint(EndpointName=endpoint["EndpointName"])
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=replaced["EndpointConfigName"])[
        "ProductionVariants"
    ]
    assert replaced["EndpointStatus"] == "InService" and "ServerlessConfig" in variant
    assert scalable_targets(twin) == []  # ScaleEndpoint dropped the instance endpoint's target
    assert served_dataset(twin) == "now-serverless.zip"
    assert twin.notifications() == []
