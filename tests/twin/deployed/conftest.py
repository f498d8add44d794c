"""One twin and one deployment for every module here: the pipeline's own tests, the CLI's and the try-it page's all
need a run that trained and deployed, and that run (tuning, training, an endpoint) is the longest thing the suite
does. The twin lives while this package's tests run (package scope), so no other module's twin overlaps it.

What these tests check is the wiring around the model (states, API, metrics, permissions, rules, updates, the
CLI), so the runs here are the local profile made short: 1-epoch trials and a 4-epoch final job (~0.97-0.99 test
accuracy on the digits, enough for every answer asserted here). The full local profile's run is `make demo`'s, which
CI runs after the suite; its final job runs on one process, as do the other twins' (tests/twin/).

The final job here runs on two GPUs (two ml.g5.xlarge instances, one GPU each, as a deploy would ask with
`--parameter-overrides TrainingInstanceType=ml.g5.xlarge TrainingInstanceCount=2`): the local SageMaker runs it as
the PyTorch image would (torchrun on each instance, gloo on this machine's CPUs), so every test here also sees a
two-process model deployed and served (test_distributed_final_job.py), without a third whole run of its own."""

import pytest

from tests.support.twin_runs import PipelineRun, run_pipeline

TWO_GPUS = {"TrainingInstanceType": "ml.g5.xlarge", "TrainingInstanceCount": "2"}
SHORT_RUNS = {
    "Epochs": "1",
    "FinalEpochs": "4",
    # 4-epoch models of equal quality differ more than 8-epoch ones (0.967-0.989 seen): the second run must not
    # lose the gate to that
    "AccuracyTolerance": "0.05",
}


@pytest.fixture(scope="package")
def twin(tmp_path_factory):
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path_factory.mktemp("twin"), parameters=SHORT_RUNS | TWO_GPUS) as running:
        yield running


@pytest.fixture(scope="package")
def first_run(twin, digits_zip) -> PipelineRun:
    """The first successful pipeline run: creates the endpoint the other tests see."""
    return run_pipeline(twin, digits_zip, "digits.zip")
