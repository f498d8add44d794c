"""The local twin's SageMaker: the API subset the pipeline calls, doing real work on this machine."""

from local_twin.sagemaker.service import Faults, LocalSageMaker, SageMakerError

__all__ = ["Faults", "LocalSageMaker", "SageMakerError"]
