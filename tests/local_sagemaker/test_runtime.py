"""What the local SageMaker's jobs and endpoints start with (local_twin/sagemaker/runtime.py): this process's
environment without its AWS, SageMaker and Python settings, OpenMP told not to spin on cores they share, and pip
kept to the training image's wheelhouse."""

import subprocess
import sys

from local_twin.sagemaker.images import ImageStacks
from local_twin.sagemaker.runtime import JobRuntime
from model_code import smdebug_compat

S3_URL = "http://127.0.0.1:9"


def runtime() -> JobRuntime:
    return JobRuntime.on_this_machine(ImageStacks.built_in(), sys.executable, S3_URL, "eu-west-1")


def test_jobs_get_the_twins_endpoint_and_none_of_this_process_aws_or_python_settings(monkeypatch):
    for key, value in {"AWS_PROFILE": "mine", "SM_HOSTS": "[]", "PYTHONPATH": "/elsewhere", "HOME": "/home/me"}.items():
        monkeypatch.setenv(key, value)
    environment = runtime().environment
    assert (environment["AWS_ENDPOINT_URL"], environment["AWS_DEFAULT_REGION"]) == (S3_URL, "eu-west-1")
    assert not {"AWS_PROFILE", "SM_HOSTS", "PYTHONPATH"} & environment.keys()
    assert environment["HOME"] == "/home/me"


def test_torch_threads_do_not_spin_unless_this_process_says_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert runtime().environment["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert runtime().environment["OMP_WAIT_POLICY"] == "ACTIVE"


def test_what_a_job_installs_comes_from_the_training_images_wheelhouse_and_nothing_else(tmp_path):
    """The twin's jobs reach no package index: smdebug (which the final job installs) is there, nothing else is."""
    stand_in = runtime()
    install = [stand_in.training_python, "-m", "pip", "install", "--no-deps", "--target", str(tmp_path)]
    environment = stand_in.training_environment
    installed = subprocess.run([*install, smdebug_compat.SMDEBUG_REQUIREMENT], env=environment, capture_output=True,
                               text=True, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "smdebug" / "__init__.py").is_file()
    absent = subprocess.run([*install, "torchaudio"], env=environment, capture_output=True, text=True, check=False)
    assert absent.returncode != 0 and "No matching distribution found for torchaudio" in absent.stderr
