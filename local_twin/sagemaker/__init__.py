"""The local twin's SageMaker: the API subset the pipeline calls, doing real work on this machine."""

from local_twin.sagemaker.errors import SageMakerError
from local_twin.sagemaker.service import LocalSageMaker

__all__ = ["LocalSageMaker", "SageMakerError"]
