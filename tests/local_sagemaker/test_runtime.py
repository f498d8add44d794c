"""What the local SageMaker's jobs and endpoints start with (local_twin/sagemaker/runtime.py): this process's
environment without its AWS, SageMaker and Python settings, and OpenMP told not to spin on cores they share."""

import sys

from local_twin.sagemaker.images import ImageStacks
from local_twin.sagemaker.runtime import JobRuntime

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
