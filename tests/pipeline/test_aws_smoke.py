"""`make aws-smoke` (scripts/aws_smoke.py) run against the local twin: everything but `sam deploy`/`sam delete`.

The twin stands in for the deployed stack (its outputs, the API key) and for AWS's clients; stand-in model code
(tests/pipeline/fake_model_code) keeps the jobs to seconds. Each run must leave nothing behind.
"""

import pytest
import requests

from scripts import aws_smoke

from .conftest import plant_stand_in_model_code

pytestmark = pytest.mark.slow
TEST_PARAMETERS = {"PollIntervalSeconds": "0", "CriticalRules": ""}  # as tests/pipeline/test_state_machine.py


class TwinStack:
    """The twin as a deployed stack: deploy() answers its outputs, delete() is recorded."""

    def __init__(self, twin):
        self.twin, self.deleted = twin, False

    def deploy(self) -> aws_smoke.Deployment:
        twin = self.twin
        return aws_smoke.Deployment(
            bucket=twin.aws.bucket,
            upload_prefix=twin.upload_prefix,
            api_url=f"{twin.api.url}{twin.template.api().routes[0].path}",
            api_key=twin.api.api_key,
            state_machine_arn=twin.aws.state_machine_arn,
            endpoint_name=twin.template.functions()["DeployFunction"].environment["ENDPOINT_NAME"],
            name_prefix=twin.template.parameters["SageMakerNamePrefix"],
        )

    def delete(self) -> None:
        self.deleted = True


@pytest.fixture
def twin(tmp_path):
    """A fresh twin per run: the acceptance run deletes the bucket."""
    from common import sourcedir
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path / "twin", parameters=TEST_PARAMETERS) as running:
        plant_stand_in_model_code(running, sourcedir)
        yield running
        # moto's state lives in this process: the next twin must start from nothing
        requests.post(f"{running.moto.url}/moto-api/reset", timeout=10).raise_for_status()


def clients_of(twin):
    return lambda: aws_smoke.Clients(twin.client("s3"), twin.client("stepfunctions"), twin.client("sagemaker"))


def left_behind(twin, prefix: str) -> dict:
    sagemaker = twin.client("sagemaker")
    configs = sagemaker.list_endpoint_configs(NameContains=prefix)["EndpointConfigs"]
    running = sagemaker.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]
    buckets = [bucket["Name"] for bucket in twin.client("s3").list_buckets()["Buckets"]]
    return {
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in configs],
        "models": [m["ModelName"] for m in sagemaker.list_models(NameContains=prefix)["Models"]],
        "running jobs": [j["TrainingJobName"] for j in running],
        "bucket": [name for name in buckets if name == twin.aws.bucket],
    }


def test_the_acceptance_run_deploys_predicts_reports_cost_and_leaves_nothing(twin, tmp_path):
    lines = []
    stack = TwinStack(twin)
    status = aws_smoke.acceptance_run(stack, clients_of(twin), tmp_path / "smoke", lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    assert "Deployed" in output and "POST digit_" in output, output
    # the billing lines: two trials and the final job trained, the instance endpoint lived
    trials = next(line for line in lines if "tuning trials" in line)
    assert "2 x ml.m5.large" in trials and "billable" in trials, output
    assert any("final training" in line and "1 x ml.m5.large" in line for line in lines), output
    assert any("1 x ml.m5.large:" in line and "instance-minutes" in line for line in lines), output
    assert stack.deleted
    assert left_behind(twin, twin.template.parameters["SageMakerNamePrefix"]) == {
        "endpoints": [], "configs": [], "models": [], "running jobs": [], "bucket": []
    }  # fmt: skip


def test_a_failed_run_is_torn_down_all_the_same(twin, tmp_path):
    """The run outlives its follow timeout while the final job trains: the run and the job are stopped, and
    everything is deleted anyway; the smoke run fails."""
    lines = []
    stack = TwinStack(twin)
    status = aws_smoke.acceptance_run(
        stack, clients_of(twin), tmp_path / "smoke", lines.append, dataset_name="slow-training.zip", follow_timeout=60
    )
    output = "\n".join(lines)
    assert status == 1 and "FAILED: TimeoutError" in output, output
    assert any(line.startswith("  stopped execution") for line in lines), output
    assert any("stopped jobs:" in line and "-train" in line for line in lines), output
    assert stack.deleted
    prefix = twin.template.parameters["SageMakerNamePrefix"]
    final_jobs = [j for j in twin.sagemaker.training.jobs.values() if j.name.endswith("-train")]
    assert [twin.sagemaker.training.wait(job.name, timeout=60).status for job in final_jobs] == ["Stopped"]
    assert left_behind(twin, prefix) == {"endpoints": [], "configs": [], "models": [], "running jobs": [], "bucket": []}
