"""The package's final jobs on two GPUs (conftest.py TWO_GPUS): the job carries the torch_distributed distribution,
the local SageMaker runs it as the PyTorch image would (torchrun on each instance, one process per GPU: gloo on this
machine's CPUs), and the model it deploys is as good as one process makes with the same short recipe. (That two
processes learn as well as one is tests/model/test_distributed.py's claim, measured on the demo's 8 epochs in
docs/benchmarks.md; here the wiring is what is tested. That the deployed model answers through the API is
test_pipeline_on_twin.py's first test.)"""

import io
import json
import tarfile

import pytest

from common import naming
from local_twin.sagemaker.jobs import split_s3_uri
from model_code import gpus

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)

SINGLE_PROCESS_ACCURACY = 0.967  # the lowest seen of one process's 4-epoch runs on the same digits (0.967-0.989)
NOISE = 0.015  # a few of the 270 test digits


def test_the_final_job_ran_on_two_processes_and_its_model_is_as_good_as_one_process(twin, first_run):
    assert first_run.execution["status"] == "SUCCEEDED", first_run.execution
    sagemaker = twin.client("sagemaker")
    name = naming.training_job_name(twin.template.parameters["SageMakerNamePrefix"], first_run.execution["name"])
    described = sagemaker.describe_training_job(TrainingJobName=name)
    assert described["ResourceConfig"]["InstanceCount"] == 2
    assert described["HyperParameters"][gpus.TORCH_DISTRIBUTED] == "true"

    job = twin.sagemaker.training.get(name)
    assert "torchrun --nnodes 2" in job.log_of(0).read_text() and "torchrun --nnodes 2" in job.log_of(1).read_text()
    assert "distributed: 2 processes (gloo)" in job.log_of(0).read_text()

    bucket, key = split_s3_uri(described["ModelArtifacts"]["S3ModelArtifacts"])
    model = twin.client("s3").get_object(Bucket=bucket, Key=key)
    with tarfile.open(fileobj=io.BytesIO(model["Body"].read())) as archive:
        metadata = json.loads(archive.extractfile("metadata.json").read())
    assert metadata["world_size"] == 2
    accuracy = metadata["test_metrics"]["test_accuracy"]
    assert accuracy >= SINGLE_PROCESS_ACCURACY - NOISE, metadata["test_metrics"]
