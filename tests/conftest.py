"""Fixtures shared by every part's tests (datasets in the dog-breed layout, a trained digits model), and the tiers.

The tiers (README, "Test tiers"): unit tests, everything not marked ``slow`` (`make quick`); twin tests, marked
``twin``, which start a whole local twin and live in tests/twin/ (`make twin`); training, packaging and the local
SageMaker's tuning, multi-process and endpoint tests, marked ``slow``. `make test` runs all three."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_xray_sdk.core  # noqa: F401  (see below)
import pytest

from local_twin.digits import write_digits_dataset
from tests.support.digits import DIGITS_TRAINING_ARGS
from tests.support.front_doors import run_elsewhere
from tests.support.paths import ROOT

TWIN_TESTS = ROOT / "tests" / "twin"
SHARED_PACKAGES = ("tests/twin/deployed/",)  # whose modules share one twin (its conftest.py)
# Under xdist the folders whose modules take minutes (whole twin runs, local SageMaker jobs and endpoints, training)
# are handed out first, so that a run ends on short modules on both workers: a two-process twin run handed out last
# kept one worker idle for 2 of the suite's 23 minutes. (The total did not shrink measurably: the long modules then
# share the cores; docs/benchmarks.md, "Suite tiers, module order, parallel trials".)
LONGEST_FIRST = ("tests/twin/", "tests/local_sagemaker/", "tests/model/")

# A boto3 client made where no credentials are configured asks the EC2 instance metadata service for some: a
# network call (refused by pytest-socket in a unit test). No test needs that service.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# Powertools' Tracer imports the X-Ray SDK, whose UDP emitter makes a socket on import (it sends nothing: tracing is
# off outside Lambda). Imported above, at collection, before pytest-socket refuses sockets to each test.


def pytest_collection_modifyitems(items):
    """A twin test is slow too (so `-m "not slow"` is the unit tier), lives in tests/twin/, and may open sockets
    (every other test runs without: pyproject.toml's --disable-socket)."""
    for item in items:
        if item.get_closest_marker("twin"):
            if TWIN_TESTS not in item.path.parents:
                raise pytest.UsageError(f"{item.nodeid} starts a twin: twin tests live in tests/twin/")
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.enable_socket)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Run in parallel (`make test`: pytest-xdist), a module's tests stay on one worker, and so do those of a package
    sharing a package-scoped twin: each module's twin, trained model or server is made once. (xdist's own
    `--dist loadgroup` marks do not group under pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return next((package for package in SHARED_PACKAGES if module.startswith(package)), module)

        def _assign_work_unit(self, node) -> None:
            """The next unit handed out is the first (in xdist's order, most tests first) of the longest folder."""
            longest = min(self.workqueue, key=longest_first_rank)
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)


def longest_first_rank(scope: str) -> int:
    return next((rank for rank, folder in enumerate(LONGEST_FIRST) if scope.startswith(folder)), len(LONGEST_FIRST))


@pytest.fixture(scope="session")
def digits_dataset(tmp_path_factory) -> tuple[Path, list]:
    """scikit-learn's real digits as <root>/{train,valid,test}/<NNN.Name>/*.jpg, plus the held-out test images."""
    root = tmp_path_factory.mktemp("digits")
    held_out = write_digits_dataset(root, image_size=32)
    return root, held_out


@pytest.fixture(scope="session")
def trained_digits_model(digits_dataset, tmp_path_factory) -> Path:
    """A model folder (model.pth, classes.json, metadata.json, code/) written by train_model.py.

    Trained once per run: under pytest-xdist each worker has this session fixture, so they share the session's
    common temporary folder and the first one trains while the others wait on its lock."""
    from filelock import FileLock

    from model_code import train_model

    root, _ = digits_dataset
    session_folder = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        session_folder = session_folder.parent  # a worker's base folder is popen-gwN in the session's folder
    work = session_folder / "digits-model"
    with FileLock(f"{work}.lock"):
        if not (work / "trained").is_file():
            shutil.rmtree(work, ignore_errors=True)  # what a worker that failed mid-training left
            train_model.main(
                [*DIGITS_TRAINING_ARGS, "--data-dir", str(root), "--model-dir", str(work / "model"),
                 "--output-data-dir", str(work / "output"), "--debug-out-dir", str(work / "tensors")]
            )  # fmt: skip
            (work / "trained").touch()
    metadata = json.loads((work / "model" / "metadata.json").read_text())
    assert metadata["test_metrics"]["test_accuracy"] > 0.8, metadata["test_metrics"]
    return work / "model"


@pytest.fixture
def inference_module(trained_digits_model):
    """model_code/inference.py with the trained digits model loaded (as the container does once)."""
    from model_code import inference

    predictor = inference.model_fn(str(trained_digits_model))
    return inference, predictor


# ---------------------------------------------------------------- the front doors, as a user meets them


@pytest.fixture
def elsewhere(tmp_path):
    """``elsewhere(command...)``: the command run in an empty folder outside the repository, clean environment."""
    folder = tmp_path / "somewhere-else"
    folder.mkdir()
    return lambda *command, **options: run_elsewhere(folder, *command, **options)


@pytest.fixture(scope="session")
def installed_cli(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh virtualenv holding a non-editable install of the project (`pip install <repo>`)
    and only what pyproject.toml declares: the `dogbreeds` command as a user installs it on a laptop."""
    work = tmp_path_factory.mktemp("installed-cli")
    source = work / "checkout"  # the working tree as a clean clone has it: tracked files and new ones
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = work / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    pip = run_elsewhere(work, venv / "bin" / "python", "-m", "pip", "install", "--quiet", source, timeout=900)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv / "bin"
