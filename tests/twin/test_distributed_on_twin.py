"""The pipeline on the twin with the final job on two GPUs (two ml.g5.xlarge instances, one GPU each, as a
deploy would ask with `--parameter-overrides TrainingInstanceType=ml.g5.xlarge TrainingInstanceCount=2`): the job
carries the torch_distributed distribution, the local SageMaker runs it as the PyTorch image would (torchrun on each
instance, one process per GPU: gloo on this machine's CPUs), and the model it deploys is as good as one process
makes with the same short recipe. (That two processes learn as well as one is tests/model/test_distributed.py's
claim, measured on the demo's 8 epochs in docs/benchmarks.md; here the wiring is what is tested.)"""

import io
import json
import tarfile

import pytest
import requests

from model_code import gpus
from tests.support.twin_runs import clear_digit, run_pipeline

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)

TWO_GPUS = {"TrainingInstanceType": "ml.g5.xlarge", "TrainingInstanceCount": "2"}
# What this test is about is the final job: one short trial is enough to pick its hyperparameters (the local
# profile's range all train the digits well), and 4 epochs are enough for a model that answers right.
SHORT_RUN = {"MaxTuningJobs": "1", "Epochs": "1", "FinalEpochs": "4"}
SINGLE_PROCESS_ACCURACY = 0.967  # the lowest seen of one process's 4-epoch runs on the same digits (0.967-0.989)
NOISE = 0.015  # a few of the 270 test digits


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """This module's twin: the local profile with the final job on two single-GPU instances."""
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("twin"), parameters=TWO_GPUS | SHORT_RUN) as running:
        yield running


def test_a_final_job_on_two_processes_deploys_a_model_as_good_as_one_process(twin, digits_zip, digits_dataset):
    run = run_pipeline(twin, digits_zip, "digits.zip")
    assert run.execution["status"] == "SUCCEEDED", run.execution
    sagemaker = twin.client("sagemaker")
    (name,) = [
        job["TrainingJobName"]
        for job in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
        if job["TrainingJobName"].endswith("-train")
    ]
    described = sagemaker.describe_training_job(TrainingJobName=name)
    assert described["ResourceConfig"]["InstanceCount"] == 2
    assert described["HyperParameters"][gpus.TORCH_DISTRIBUTED] == "true"

    job = twin.sagemaker.training.get(name)
    assert "torchrun --nnodes 2" in job.log_of(0).read_text() and "torchrun --nnodes 2" in job.log_of(1).read_text()
    assert "distributed: 2 processes (gloo)" in job.log_of(0).read_text()

    bucket, _, key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").partition("/")
    model = twin.client("s3").get_object(Bucket=bucket, Key=key)
    with tarfile.open(fileobj=io.BytesIO(model["Body"].read())) as archive:
        metadata = json.loads(archive.extractfile("metadata.json").read())
    assert metadata["world_size"] == 2
    accuracy = metadata["test_metrics"]["test_accuracy"]
    assert accuracy >= SINGLE_PROCESS_ACCURACY - NOISE, metadata["test_metrics"]

    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    route = twin.template.api().routes[0]
    response = requests.post(
        f"{twin.api.url}{route.path}",
        data=sample.path.read_bytes(),
        headers={"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == sample.label
