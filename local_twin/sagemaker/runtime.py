"""What the local SageMaker's jobs and endpoints run with on this machine, in place of SageMaker's images."""

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobRuntime:
    """The Python that runs training scripts, rule jobs and serving processes (its environment holds the training
    toolkit and the model code: the images are recorded, not run), and the environment they start with, before their
    execution role's session is added."""

    python: str
    environment: dict[str, str]

    @classmethod
    def on_this_machine(cls, python: str, endpoint_url: str, region: str) -> "JobRuntime":
        """This process's environment without its AWS and SageMaker settings, reaching AWS at ``endpoint_url``."""
        inherited = {
            key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SM_", "SAGEMAKER_"))
        }
        return cls(python, {**inherited, "AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": region})

    @property
    def train(self) -> Path:
        """The sagemaker-training toolkit's entry point, installed beside ``python``."""
        return Path(self.python).parent / "train"
