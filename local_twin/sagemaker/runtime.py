"""What the local SageMaker's jobs and endpoints run with on this machine, in place of SageMaker's images."""

import os
from dataclasses import dataclass
from pathlib import Path

from local_twin.sagemaker.images import ImageStacks

# Settings of this process that must not leak into a job or an endpoint: its AWS identity and SageMaker variables
# (the job gets its own), and what points Python at the project's environment instead of the image's.
NOT_INHERITED = ("AWS_", "SM_", "SAGEMAKER_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
# SageMaker gives each job and endpoint instances of its own; here they share this machine's cores with each other
# (the local profile's two trials run at once, a job's data loader beside it, TorchServe's two workers) and with the
# twin. torch's OpenMP threads spin while they wait for work: with two torch processes on 2 cores each step took ~9x
# as long (docs/benchmarks.md, "Torch processes sharing the cores"). Not spinning at all costs a lone process little
# and two at once least. Only a default: a setting in this process's environment wins.
SHARED_CORES = {"OMP_WAIT_POLICY": "PASSIVE"}


@dataclass(frozen=True)
class JobRuntime:
    """The images' stand-ins (images.py) that run training scripts and serving containers, the Python that runs
    rule evaluations (the twin's own: the rule evaluator is an image of its own, with smdebug's rule API), and the
    environment they all start with, before their execution role's session is added."""

    stacks: ImageStacks
    python: str
    environment: dict[str, str]

    @classmethod
    def on_this_machine(cls, stacks: ImageStacks, python: str, endpoint_url: str, region: str) -> "JobRuntime":
        """This process's environment without its AWS, SageMaker and Python settings, reaching AWS at
        ``endpoint_url``, with ``SHARED_CORES`` where it sets nothing else."""
        inherited = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
        environment = {**SHARED_CORES, **inherited, "AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": region}
        return cls(stacks, python, environment)

    @property
    def training_python(self) -> str:
        return self.stacks.training.python

    @property
    def training_environment(self) -> dict[str, str]:
        """A job's environment before its own settings: what its code installs (smdebug_compat.ensure_smdebug) comes
        from the training image's wheelhouse, as it would come from PyPI in SageMaker."""
        wheels = {"PIP_FIND_LINKS": str(self.stacks.training.wheelhouse), "PIP_NO_INDEX": "1"}
        return {**self.environment, **wheels}

    @property
    def train(self) -> Path:
        """The sagemaker-training toolkit's entry point in the training image."""
        return Path(self.training_python).parent / "train"

    @property
    def serving_python(self) -> str:
        return self.stacks.inference.python
