"""Application Auto Scaling for an instance endpoint's variant: the requests, built from the stack's settings.

SageMaker's guide ("Automatic scaling of Amazon SageMaker AI models"): the variant is a scalable target
(namespace ``sagemaker``, resource ``endpoint/<name>/variant/<variant>``, dimension
``sagemaker:variant:DesiredInstanceCount``) with a target-tracking policy on the predefined metric
SageMakerVariantInvocationsPerInstance (invocations per instance per minute). An update that changes a scaled
variant's instance type fails unless the variant is deregistered first ("Update endpoints that use auto
scaling"); a model change alone is allowed. Deregistering a target deletes its policies. Serverless endpoints
do not scale this way: their MaxConcurrency and provisioned concurrency are their capacity.
"""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from common.aws import error_code
from common.sagemaker_requests import VARIANT_NAME

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY_NAME = "invocations-per-instance"
# Out after a minute, in only after five: a new instance takes minutes to start serving, so one shed too early
# costs more than one kept a little longer.
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60


@dataclass(frozen=True)
class ScalingSettings:
    min_instances: int
    max_instances: int
    invocations_per_instance: float  # per instance per minute: the target the policy tracks


def resource_id(endpoint_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def target_key(endpoint_name: str) -> dict:
    """What names the variant's scalable target in every Application Auto Scaling call."""
    return {
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": resource_id(endpoint_name),
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def register_target_request(endpoint_name: str, settings: ScalingSettings) -> dict:
    """RegisterScalableTarget: registering again updates the bounds of a target already registered."""
    return target_key(endpoint_name) | {"MinCapacity": settings.min_instances, "MaxCapacity": settings.max_instances}


def scaling_policy_request(endpoint_name: str, settings: ScalingSettings) -> dict:
    """PutScalingPolicy: target tracking on invocations per instance; putting it again replaces it."""
    return target_key(endpoint_name) | {
        "PolicyName": POLICY_NAME,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": settings.invocations_per_instance,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
        },
    }


def is_registered(autoscaling, endpoint_name: str) -> bool:
    """Whether the variant is a scalable target now (asked first: deregistering an absent one is an error)."""
    key = target_key(endpoint_name)
    described = autoscaling.describe_scalable_targets(
        ServiceNamespace=key["ServiceNamespace"], ResourceIds=[key["ResourceId"]], ScalableDimension=SCALABLE_DIMENSION
    )
    return bool(described["ScalableTargets"])


def stop_scaling(autoscaling, endpoint_name: str) -> bool:
    """Deregister the variant (its policies go with it); False when it was not registered."""
    if not is_registered(autoscaling, endpoint_name):
        return False
    try:
        autoscaling.deregister_scalable_target(**target_key(endpoint_name))
    except ClientError as error:  # gone since it was listed (DeleteEndpoint deregisters it silently)
        if error_code(error) != "ObjectNotFoundException":
            raise
        return False
    return True
