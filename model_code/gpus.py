"""GPUs per SageMaker training instance type, and when a job trains data-parallel: the one table the request
builders (whether a job enables the ``torch_distributed`` distribution) and the local twin (how many GPUs its
instance reports to the training toolkit, which starts that many processes) read. Standard library only: the
Lambdas import it from the model-code layer.

Source of the counts: Amazon EC2's "Accelerated computing instance specifications"
(https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html); a SageMaker ``ml.<type>`` instance is the EC2
``<type>``. The CPU types have none. Every instance type the template's training parameters allow is here
(tests/template checks it).
"""

GPUS_PER_INSTANCE = {
    "ml.m5.large": 0,
    "ml.m5.xlarge": 0,
    "ml.m5.2xlarge": 0,
    "ml.c5.xlarge": 0,
    "ml.c5.2xlarge": 0,
    "ml.g4dn.xlarge": 1,  # NVIDIA T4
    "ml.g4dn.12xlarge": 4,
    "ml.g5.xlarge": 1,  # NVIDIA A10G
    "ml.g5.12xlarge": 4,
    "ml.p3.2xlarge": 1,  # NVIDIA V100
    "ml.p3.8xlarge": 4,
}

# What the SageMaker SDK's PyTorch estimator sends for distribution={"torch_distributed": {"enabled": True}}:
# sagemaker-pytorch-training (the images' framework module) then launches the script with torchrun, one process per
# GPU on every instance.
TORCH_DISTRIBUTED = "sagemaker_torch_distributed_enabled"
INSTANCE_TYPE = "sagemaker_instance_type"


def gpus_per_instance(instance_type: str) -> int:
    if instance_type not in GPUS_PER_INSTANCE:
        known = ", ".join(sorted(GPUS_PER_INSTANCE))
        raise ValueError(f"no GPU count known for instance type {instance_type!r} (model_code/gpus.py knows {known})")
    return GPUS_PER_INSTANCE[instance_type]


def is_distributed(instance_type: str, instance_count: int) -> bool:
    """Data-parallel when the job has more than one GPU in all (GPUs per instance x instances)."""
    return gpus_per_instance(instance_type) * instance_count > 1


def distribution_hyperparameters(instance_type: str, instance_count: int) -> dict:
    """The reserved hyperparameters that switch a job to torchrun (none for a single device)."""
    if not is_distributed(instance_type, instance_count):
        return {}
    return {TORCH_DISTRIBUTED: True, INSTANCE_TYPE: instance_type}
