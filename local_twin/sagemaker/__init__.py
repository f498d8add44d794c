"""The local twin's SageMaker: the API subset the pipeline calls, doing real work on this machine."""

from local_twin.sagemaker.service import LocalSageMaker, SageMakerError

__all__ = ["LocalSageMaker", "SageMakerError"]
