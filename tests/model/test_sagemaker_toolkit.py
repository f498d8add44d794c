"""hpo.py and train_model.py run under the real sagemaker-training toolkit, as in SageMaker's containers."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from common import sourcedir
from model_code import metrics
from tests.support.images import write_colour_dataset


def sagemaker_layout(base: Path, program: str, hyperparameters: dict, channel_source: Path) -> Path:
    """/opt/ml as SageMaker lays it out, the code unpacked from the very sourcedir.tar.gz the pipeline uploads;
    hyperparameters JSON-encoded as the SDK writes them."""
    ml = base / "ml"
    config = ml / "input" / "config"
    config.mkdir(parents=True)
    source = base / "code"
    _, archive = sourcedir.build_archive()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    # this environment has the requirements already: the toolkit's pip install would only reach for the network
    (source / "requirements.txt").unlink()
    encoded = {key: json.dumps(value) for key, value in hyperparameters.items()}
    encoded |= {"sagemaker_program": json.dumps(program), "sagemaker_submit_directory": json.dumps(str(source))}
    (config / "hyperparameters.json").write_text(json.dumps(encoded))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "localhost", "hosts": ["localhost"]}))
    (config / "inputdataconfig.json").write_text(json.dumps({"training": {"TrainingInputMode": "File"}}))
    shutil.copytree(channel_source, ml / "input" / "data" / "training")
    for folder in ("model", "output/data", "checkpoints"):
        (ml / folder).mkdir(parents=True, exist_ok=True)
    return ml


def run_toolkit(ml: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(ml), "PYTHONUNBUFFERED": "1"}
    train = Path(sys.executable).parent / "train"
    return subprocess.run([str(train)], env=env, capture_output=True, text=True, timeout=600)


HYPERPARAMETERS = {
    "lr": 0.01, "batch-size": 8, "epochs": 2, "image-size": 16, "weights": "none", "crop-scale-min": 0.5,
    "backbone-lr-factor": 1.0, "workers": 0, "warmup-epochs": 0,
}  # fmt: skip


@pytest.mark.slow
def test_hpo_under_the_toolkit_reports_validation_metrics(tmp_path):
    ml = sagemaker_layout(tmp_path, "hpo.py", HYPERPARAMETERS, write_colour_dataset(tmp_path / "dataset"))
    result = run_toolkit(ml)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (ml / "output" / "success").exists()
    found = metrics.parse_metric_lines(result.stdout + result.stderr)
    per_epoch, (objective,) = found[metrics.OBJECTIVE_METRIC][:2], found[metrics.OBJECTIVE_METRIC][2:]
    assert objective == max(per_epoch)  # the last value, the one SageMaker keeps, is the exported epoch's
    assert "test_accuracy" not in found  # trials never look at the test split
    assert json.loads((ml / "output" / "data" / "trial.json").read_text())["hyperparameters"]["batch_size"] == 8
    assert {"model.pth", "classes.json", "metadata.json"} <= {p.name for p in (ml / "model").iterdir()}
    assert "test_metrics" not in json.loads((ml / "model" / "metadata.json").read_text())


@pytest.mark.slow
def test_train_model_under_the_toolkit_leaves_artifacts_where_sagemaker_expects(tmp_path):
    dataset_root = write_colour_dataset(tmp_path / "dataset")
    ml = sagemaker_layout(tmp_path, "train_model.py", HYPERPARAMETERS | {"epochs": 1}, dataset_root)
    hook_config = tmp_path / "debughookconfig.json"
    hook_config.write_text(
        json.dumps(
            {
                "LocalPath": str(ml / "output" / "tensors"),
                "S3OutputPath": "s3://bucket/debug",
                "CollectionConfigurations": [{"CollectionName": "losses", "CollectionParameters": {}}],
            }
        )
    )
    env_patch = {"SMDEBUG_CONFIG_FILE_PATH": str(hook_config)}
    os.environ.update(env_patch)
    try:
        result = run_toolkit(ml)
    finally:
        for key in env_patch:
            os.environ.pop(key)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (ml / "output" / "success").exists()
    assert {"model.pth", "classes.json", "metadata.json", "code"} <= {p.name for p in (ml / "model").iterdir()}
    assert (ml / "checkpoints" / "checkpoint.pth").is_file()
    assert (ml / "output" / "data" / "loss_curves.png").is_file()
    assert any((ml / "output" / "tensors").rglob("*.tfevents"))
    assert "test_accuracy" in metrics.parse_metric_lines(result.stdout + result.stderr)
