"""Step 8: CreateModel from an Approved model package and CreateEndpointConfig, then CreateEndpoint when the
stable endpoint does not exist yet, else UpdateEndpoint (blue/green: the old model serves until the new
one is healthy, and a failed update rolls back). While another run changes the endpoint, or a Failed one is
being deleted, EndpointBusy makes the state machine retry the step later.

SageMaker cannot update an endpoint between instance-based and serverless: when ServerlessInference was
switched since the endpoint was made, it is deleted and created again under its fixed name (the API, the
alarm and the IAM policies name it), so it answers nothing until the new one is InService.

An update keeps the live variant's instance count (autoscaling's), and Application Auto Scaling refuses an
update that changes a scaled variant's instance type: the variant is deregistered first, and ScaleEndpoint
registers it again once the new fleet is InService.

One path for every release: a run's own model (auto approval), a version a person approved (manual), and a
rollback to an earlier version all arrive here as a package; the package's approval is checked again here, as a
model made from it must be Approved."""

import contextlib
import os

from botocore.exceptions import ClientError

from common import aws, naming
from common.aws import error_code, transient_errors
from common.endpoint_scaling import stop_scaling
from common.endpoints import described_endpoint
from common.powertools import logger, step_handler
from common.sagemaker_requests import (
    EndpointSettings,
    endpoint_config_request,
    model_from_package_request,
    update_endpoint_request,
)
from model_code import registry


def endpoint_settings() -> EndpointSettings:
    return EndpointSettings(
        role_arn=os.environ["SAGEMAKER_ROLE_ARN"],
        instance_type=os.environ["ENDPOINT_INSTANCE_TYPE"],
        serverless=os.environ["SERVERLESS_INFERENCE"] == "true",
        serverless_memory_mb=int(os.environ["SERVERLESS_MEMORY_MB"]),
        serverless_max_concurrency=int(os.environ["SERVERLESS_MAX_CONCURRENCY"]),
        serverless_provisioned_concurrency=int(os.environ["SERVERLESS_PROVISIONED_CONCURRENCY"]),
        min_instances=int(os.environ["ENDPOINT_MIN_INSTANCES"]),
    )


# Statuses in which SageMaker refuses UpdateEndpoint: another run is creating or updating the endpoint.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


class PackageNotApproved(Exception):
    """Only an Approved version is deployed (SageMaker refuses a model from any other)."""


def approved_package(sagemaker, package_arn: str) -> registry.Version:
    with transient_errors():
        version = registry.Version.from_described(sagemaker.describe_model_package(ModelPackageName=package_arn))
    if version.approval != registry.APPROVED:
        raise PackageNotApproved(f"model package v{version.number} is {version.approval}, not Approved: {package_arn}")
    return version


class EndpointBusy(Exception):
    """The endpoint is being changed by another run: the state machine retries Deploy later."""


def live_variant(sagemaker, config_name: str) -> dict:
    """The variant the endpoint serves now, as its endpoint configuration describes it."""
    with transient_errors():
        return sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]


@contextlib.contextmanager
def busy_is_retried(endpoint_name: str):
    """Two runs may reach Deploy together: the loser of that race waits its turn instead of failing."""
    try:
        yield
    except ClientError as error:
        message = error.response["Error"].get("Message", "")
        if error_code(error) == "ValidationException" and ("in-progress" in message or "already existing" in message):
            raise EndpointBusy(f"endpoint {endpoint_name} is being changed by another run: {message}") from error
        raise


@step_handler
def lambda_handler(event: dict) -> dict:
    settings = endpoint_settings()
    prefix, run_id = os.environ["SAGEMAKER_NAME_PREFIX"], event["run_id"]
    endpoint_name = os.environ["ENDPOINT_NAME"]
    model_name = naming.model_name(prefix, run_id)
    config_name = naming.endpoint_config_name(prefix, run_id)
    tags = naming.run_tags(run_id)
    sagemaker = aws.client("sagemaker")
    version = approved_package(sagemaker, event["package"]["arn"])
    aws.create_once(
        sagemaker.create_model,
        **model_from_package_request(name=model_name, role_arn=settings.role_arn, package_arn=version.arn, tags=tags),
    )
    aws.create_once(
        sagemaker.create_endpoint_config,
        **endpoint_config_request(name=config_name, model_name=model_name, settings=settings, tags=tags),
    )
    endpoint = described_endpoint(sagemaker, endpoint_name)
    status = endpoint["EndpointStatus"] if endpoint else None
    if status in BUSY_STATUSES:
        raise EndpointBusy(f"endpoint {endpoint_name} is {status}: another run is changing it")
    if status == "Failed":
        # A Failed endpoint serves nothing and cannot be updated: delete it, create it on the retry.
        with transient_errors():
            sagemaker.delete_endpoint(EndpointName=endpoint_name)
        logger.warning("deleted a failed endpoint", extra={"endpoint": endpoint_name})
        raise EndpointBusy(f"endpoint {endpoint_name} was Failed: deleted, to be created again")
    variant = live_variant(sagemaker, endpoint["EndpointConfigName"]) if endpoint else None
    if variant and ("ServerlessConfig" in variant) != settings.serverless:
        with transient_errors():
            sagemaker.delete_endpoint(EndpointName=endpoint_name)
        kind = "serverless" if settings.serverless else "instance-based"
        logger.warning("replacing the endpoint to change its type", extra={"endpoint": endpoint_name, "to": kind})
        raise EndpointBusy(f"endpoint {endpoint_name} cannot be updated to {kind}: deleted, to be created again")
    if status is not None:
        action = "update"
        if not settings.serverless and variant.get("InstanceType") != settings.instance_type:
            with transient_errors():
                if stop_scaling(aws.client("application-autoscaling"), endpoint_name):
                    logger.info("deregistered the variant to change its instance", extra={"endpoint": endpoint_name})
        with busy_is_retried(endpoint_name), transient_errors():
            sagemaker.update_endpoint(
                **update_endpoint_request(
                    endpoint_name=endpoint_name,
                    config_name=config_name,
                    serverless=settings.serverless,
                    rollback_alarm=os.environ["ROLLBACK_ALARM_NAME"],
                )
            )
    else:
        action = "create"
        with busy_is_retried(endpoint_name), transient_errors():
            sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name, Tags=tags)
    logger.info("deployment started", extra={"action": action, "endpoint": endpoint_name, "config": config_name})
    return {
        "endpoint_name": endpoint_name,
        "config_name": config_name,
        "model_name": model_name,
        "model_package_arn": version.arn,
        "version": version.number,
        "action": action,
        "replaced_config": endpoint["EndpointConfigName"] if endpoint else None,  # what a rollback serves again
        "status": "InProgress",
        "polls": 0,
    }
