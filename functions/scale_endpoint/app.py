"""Step 8: once the endpoint is InService, make its scaling match the stack's settings. Also RestoreScaling,
after a failed Deploy or endpoint update: Deploy deregisters a variant whose instance type it changes, and a
rolled-back update leaves the old fleet serving, which must scale again. With no endpoint there is nothing to do;
one that is not InService (still rolling back) is an error, caught by the state machine and left to the next run.

An instance endpoint's variant is registered with Application Auto Scaling (EndpointMinInstances to
EndpointMaxInstances) with a target-tracking policy on invocations per instance; registering and putting the
policy again on a later run only updates them, and a blue/green update keeps the scaled instance count (Deploy
retains the variant's properties). A serverless endpoint scales by its own MaxConcurrency: a target left from
an instance endpoint it replaced is deregistered.
"""

import os

from common import aws
from common.aws import transient_errors
from common.endpoint_scaling import (
    ScalingSettings,
    register_target_request,
    scaling_policy_request,
    stop_scaling,
)
from common.endpoints import described_endpoint
from common.powertools import logger, step_handler


class EndpointNotInService(Exception):
    """Application Auto Scaling registers the variant of an InService endpoint only."""


def scaling_settings() -> ScalingSettings:
    settings = ScalingSettings(
        min_instances=int(os.environ["ENDPOINT_MIN_INSTANCES"]),
        max_instances=int(os.environ["ENDPOINT_MAX_INSTANCES"]),
        invocations_per_instance=float(os.environ["ENDPOINT_INVOCATIONS_PER_INSTANCE"]),
    )
    if settings.min_instances > settings.max_instances:
        raise ValueError(
            f"EndpointMinInstances={settings.min_instances} is above EndpointMaxInstances={settings.max_instances}"
        )
    return settings


@step_handler
def lambda_handler(event: dict) -> dict:
    endpoint_name = os.environ["ENDPOINT_NAME"]
    autoscaling = aws.client("application-autoscaling")
    if os.environ["SERVERLESS_INFERENCE"] == "true":
        with transient_errors():
            stopped = stop_scaling(autoscaling, endpoint_name)
        if stopped:
            logger.info("deregistered a target left by an instance endpoint", extra={"endpoint": endpoint_name})
        return {"scaling": "serverless"}
    settings = scaling_settings()
    endpoint = described_endpoint(aws.client("sagemaker"), endpoint_name)
    if endpoint is None:  # a first deployment that failed
        return {"scaling": "no endpoint"}
    if endpoint["EndpointStatus"] != "InService":
        status = endpoint["EndpointStatus"]
        raise EndpointNotInService(f"endpoint {endpoint_name} is {status}: its scaling is not registered")
    with transient_errors():
        autoscaling.register_scalable_target(**register_target_request(endpoint_name, settings))
        autoscaling.put_scaling_policy(**scaling_policy_request(endpoint_name, settings))
    logger.info(
        "endpoint scales",
        extra={"endpoint": endpoint_name, "min": settings.min_instances, "max": settings.max_instances},
    )
    return {
        "scaling": "target-tracking",
        "min_instances": settings.min_instances,
        "max_instances": settings.max_instances,
        "invocations_per_instance": settings.invocations_per_instance,
    }
