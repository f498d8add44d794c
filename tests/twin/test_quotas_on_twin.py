"""A new account on the twin (`Twin(account="new-account")`): its SageMaker quotas stop a run before any job, in the
CheckQuotas step, with the quota's name; `dogbreeds doctor --twin` says the same before a run; the local SageMaker
refuses a direct CreateTrainingJob over the quota as SageMaker does. Nothing here trains: every run stops early."""

import json

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from dogbreeds_cli.cli import main
from model_code import quotas
from tests.support.twin_runs import run_pipeline
from tests.support.zips import good_zip

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)
TRAINING = quotas.training_instances("ml.m5.large", spot=False)  # the local profile: on-demand ml.m5.large
ENDPOINT = quotas.endpoint_instances("ml.m5.large")  # and an instance endpoint


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("new-account"), parameters={"PollIntervalSeconds": "0"},
              account="new-account") as running:  # fmt: skip
        yield running


def training_instances_needed(twin) -> int:
    """The local profile's trials at once, one instance each (the final job, after them, needs one)."""
    return int(twin.template.parameters["MaxParallelTuningJobs"])


def endpoint_instances_needed(twin) -> int:
    """Autoscaling's most, twice: a blue/green update starts a fleet of the live size beside the old one."""
    return quotas.BLUE_GREEN_FLEETS * int(twin.template.parameters["EndpointMaxInstances"])


def sagemaker_jobs(twin) -> tuple[list, list]:
    sagemaker = twin.client("sagemaker")
    tuning = sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    return tuning, sagemaker.list_training_jobs()["TrainingJobSummaries"]


def test_a_run_on_a_new_account_stops_in_check_quotas_naming_the_quotas(twin, tmp_path):
    dataset = tmp_path / "dogs.zip"
    dataset.write_bytes(good_zip())
    run = run_pipeline(twin, dataset, "dogs.zip", timeout=300)
    assert run.execution["status"] == "FAILED", run.execution
    assert (run.states["ValidateDataset"], run.states["CheckQuotas"]) == ("SUCCEEDED", "FAILED")
    assert "StartTuning" not in run.states
    assert run.execution["error"] == "QuotaTooLow"
    cause = json.loads(run.execution["cause"])["errorMessage"]
    needed = training_instances_needed(twin)
    assert f"'{TRAINING.name}' (" in cause and f") is 0 in us-east-1; this stack needs {needed} (" in cause
    assert f"'{ENDPOINT.name}' (" in cause and "quotas/L-" in cause and "request-service-quota-increase" in cause
    assert sagemaker_jobs(twin) == ([], [])  # not one job was created, let alone paid for
    (message,) = twin.notifications()
    assert json.loads(message)["failed_state"] == "CheckQuotas"


def test_the_doctor_against_the_twin_lists_the_same_shortfalls(twin, tmp_path):
    connection = tmp_path / "up.json"
    connection.write_text(json.dumps(twin.connection()))
    console = Console(record=True, width=250)
    assert main(["doctor", "--twin", str(connection)], console=console) == 1
    text = console.export_text()
    assert text.startswith(f"Can this account run the stack? us-east-1, the twin ({connection})")
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith((TRAINING.name, ENDPOINT.name))]
    training, endpoint = str(training_instances_needed(twin)), str(endpoint_instances_needed(twin))
    assert [row.split()[-4:] for row in rows] == [[training, "0", "TOO", "LOW"], [endpoint, "0", "TOO", "LOW"]], rows
    assert f"TOO LOW: '{TRAINING.name}'" in text and f"TOO LOW: '{ENDPOINT.name}'" in text


def test_create_training_job_over_the_quota_is_resource_limit_exceeded(twin):
    request = {
        "TrainingJobName": "twin-over-quota",
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File"},
        "RoleArn": twin.template.get_att("SageMakerExecutionRole", "Arn"),
        "OutputDataConfig": {"S3OutputPath": f"s3://{twin.aws.bucket}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    with pytest.raises(ClientError) as refused:
        twin.client("sagemaker").create_training_job(**request)
    assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert refused.value.response["Error"]["Message"] == quotas.limit_exceeded_message(TRAINING, 0, 0, 1)
    assert sagemaker_jobs(twin) == ([], [])


def test_with_the_increases_granted_the_step_lets_the_run_through(twin):
    """CheckQuotas through its own role (servicequotas:List* from the template) once the quotas are raised."""
    twin.quotas.set(TRAINING, training_instances_needed(twin))
    twin.quotas.set(ENDPOINT, endpoint_instances_needed(twin))
    answer = twin.invoke_function("CheckQuotasFunction", {"run_id": "after-the-increase"})
    assert answer == {"checked": 6, "unreadable": []}  # one instance type for the trials and the final job
    assert len(twin.moto.denials) == 0


def test_a_role_without_the_grant_cannot_read_the_quotas(twin):
    import boto3

    role = twin.template.role_of("PickBestFunction")
    credentials = twin.moto.assume(role.arn, "no-quota-grant")
    service_quotas = boto3.client(
        "service-quotas", endpoint_url=twin.sagemaker.url, region_name=twin.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"], aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )  # fmt: skip
    with pytest.raises(service_quotas.exceptions.AccessDeniedException, match="servicequotas:ListServiceQuotas"):
        service_quotas.list_service_quotas(ServiceCode="sagemaker")
