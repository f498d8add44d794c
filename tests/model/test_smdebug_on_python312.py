"""smdebug on the PyTorch 2.6 images' Python (3.12), which has no distutils: in a job, smdebug is installed without
its pins (into a folder of its own) and the loss rules judge a recorded trial, from the very sourcedir the pipeline
uploads.

The virtualenv is Python 3.12 (pyenv's) WITHOUT setuptools, so setuptools' distutils shim cannot hide a missing
fallback; it holds what the training image brings that smdebug needs (numpy < 2, protobuf, boto3) and the
sourcedir's requirements.txt, as the training toolkit installs them. Recording the losses needs torch: the twin's
jobs (which run train_model.py in the image's environment) cover that half.
"""

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch
from torch import nn

from common import sourcedir
from model_code import debugger, loss_rules
from model_code.rule_settings import rule_parameters

pytestmark = pytest.mark.slow
IMAGE_PACKAGES = ("numpy<2", "protobuf", "boto3")  # in the training image already; smdebug imports them


def python312() -> Path:
    candidates = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    candidates += [Path(found)] if (found := shutil.which("python3.12")) else []
    for candidate in candidates:
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    pytest.fail("no Python 3.12 (the training image's) on this machine: install it (pyenv install 3.12)")


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> tuple[Path, Path]:
    """(python, code dir): a Python 3.12 job environment without setuptools, and the unpacked sourcedir."""
    work = tmp_path_factory.mktemp("python312-job")
    subprocess.run([python312(), "-m", "venv", work / "venv"], check=True)
    python = work / "venv" / "bin" / "python"
    code = work / "code"
    _, archive = sourcedir.build_archive()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(code, filter="data")
    install = [python, "-m", "pip", "install", "--quiet", *IMAGE_PACKAGES, "-r", code / "requirements.txt"]
    result = subprocess.run(install, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = subprocess.run([python, "-c", "import distutils"], capture_output=True, text=True, check=False)
    assert "No module named 'distutils'" in missing.stderr  # the image's Python, without the shim
    return python, code


def recorded_trial(folder: Path) -> Path:
    """A trial recorded here by the job's own recorder: 6 epochs of falling losses, validation close behind."""
    model, criterion = nn.Linear(2, 2), nn.CrossEntropyLoss()
    recorder = debugger.create_loss_recorder(str(folder), model, criterion)
    for epoch in range(6):
        for phase, scale in (("train", 1.0), ("eval", 1.1)):
            recorder.set_phase(phase)
            logits = torch.tensor([[2.0 + epoch, 0.0]]) / scale
            criterion(logits, torch.tensor([0]))
    recorder.close()
    return folder


def test_in_a_job_smdebug_installs_and_the_rules_judge_on_python_312(job, tmp_path):
    python, code = job
    trial = recorded_trial(tmp_path / "trial")
    judge = (
        "import json, sys; from model_code import smdebug_compat; smdebug_compat.ensure_smdebug(); "
        "from model_code import loss_rules; import smdebug; print(smdebug.__file__); "
        "print(json.dumps(loss_rules.evaluate_rules(sys.argv[1], json.loads(sys.argv[2]))))"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SM_TRAINING_ENV": "{}", "PYTHONPATH": str(code)}
    result = subprocess.run(
        [python, "-c", judge, trial, json.dumps(rule_parameters(6))],
        cwd=code, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    on_312 = json.loads(result.stdout.strip().splitlines()[-1])
    here = loss_rules.evaluate_rules(str(trial), rule_parameters(6))
    assert {name: v["verdict"] for name, v in on_312.items()} == {name: v["verdict"] for name, v in here.items()}
    assert set(on_312) == set(rule_parameters(6))
    assert "Error" not in {verdict["verdict"] for verdict in on_312.values()}, on_312
    # installed by the job itself, without its pins, into a folder of its own: the environment stays as it was
    (smdebug_file,) = [Path(line) for line in result.stdout.splitlines() if line.endswith("/smdebug/__init__.py")]
    assert smdebug_file.parent.name == "smdebug" and smdebug_file.parents[1].name.startswith("smdebug-")
    assert not smdebug_file.is_relative_to(python.parents[1])
    installed = subprocess.run([python, "-m", "pip", "show", "smdebug"], capture_output=True, text=True, check=False)
    assert installed.returncode != 0 and "not found: smdebug" in installed.stderr
