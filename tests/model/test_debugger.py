"""model_code/debugger.py and smdebug_compat.py without a working smdebug: training goes on after one clear warning."""

import importlib
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from torch import nn

from model_code import debugger, smdebug_compat


def missing_smdebug(name: str):
    raise ImportError(f"No module named {name!r}")


def test_without_smdebug_training_goes_on_after_one_warning(monkeypatch, tmp_path):
    monkeypatch.delenv("SM_TRAINING_ENV", raising=False)
    monkeypatch.setattr(importlib, "import_module", missing_smdebug)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorder = debugger.create_loss_recorder(str(tmp_path / "tensors"), nn.Linear(2, 2), nn.CrossEntropyLoss())
    assert recorder is None
    (warning,) = caught
    assert "training continues without it" in str(warning.message) and "smdebug.pytorch" in str(warning.message)


def test_inside_a_sagemaker_job_a_missing_smdebug_is_installed_without_its_pins(monkeypatch):
    monkeypatch.setenv("SM_TRAINING_ENV", "{}")
    installed, imported = [], []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # the image has no smdebug
    monkeypatch.setattr(subprocess, "run", lambda command, check: installed.append(command))
    monkeypatch.setattr(importlib, "import_module", lambda name: imported.append(name) or "smdebug module")
    monkeypatch.setattr(smdebug_compat, "_patch_numpy2_tensor_proto", lambda: None)  # nothing real to patch
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert smdebug_compat.import_smdebug_pytorch() == "smdebug module"
    ((*pip, target, requirement),) = installed
    assert pip == [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    assert requirement == smdebug_compat.SMDEBUG_REQUIREMENT and imported == ["smdebug.pytorch"]
    # into a folder of the process's own, first on its path: the image's environment stays as it was
    assert sys.path[0] == target and Path(target).is_dir() and Path(target).name.startswith("smdebug-")


def test_outside_a_job_a_missing_smdebug_is_not_installed(monkeypatch):
    monkeypatch.delenv("SM_TRAINING_ENV", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(importlib, "import_module", missing_smdebug)
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: pytest.fail("pip must not run outside a job"))
    with pytest.raises(ImportError):
        smdebug_compat.import_smdebug_pytorch()


@pytest.mark.parametrize(
    ("text", "value"), [("True", 1), ("yes", 1), ("on", 1), ("1", 1), ("false", 0), ("N", 0), ("off", 0), ("0", 0)]
)
def test_strtobool_reads_as_distutils_did(text, value):
    assert smdebug_compat.strtobool(text) == value


def test_strtobool_refuses_other_words():
    with pytest.raises(ValueError, match="invalid truth value 'maybe'"):
        smdebug_compat.strtobool("maybe")
