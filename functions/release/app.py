"""The first step of a release: an Approved version put on the endpoint without training, through the same Deploy
states a run ends with. Two callers start one: StartPipeline for a version a person approved (ApprovalMode manual;
SageMaker's state-change event), and `dogbreeds rollback` for an earlier version. Either may be stale or repeated,
so the package is described again here: it must be a version of the stack's group and Approved, and one the
endpoint serves already is not deployed twice.
"""

import os

from common import aws
from common.aws import transient_errors
from common.poll_budget import poll_settings
from common.powertools import logger, step_handler
from model_code import live_version, registry


class PackageNotReleasable(Exception):
    """Not a version of this stack's group, or not Approved: nothing is deployed."""


def releasable(described: dict, group: str) -> registry.Version:
    version = registry.Version.from_described(described)
    group_name = group.rsplit("/", 1)[-1]  # the group's name or ARN
    if described.get("ModelPackageGroupName") != group_name:
        raise PackageNotReleasable(f"{version.arn} is not a version of the stack's model package group {group_name}")
    if version.approval != registry.APPROVED:
        raise PackageNotReleasable(f"v{version.number} is {version.approval}: only an Approved version is released")
    return version


@step_handler
def lambda_handler(event: dict) -> dict:
    arn = event["release"]["model_package_arn"]
    sagemaker = aws.client("sagemaker")
    with transient_errors():
        described = sagemaker.describe_model_package(ModelPackageName=arn)
    version = releasable(described, os.environ["MODEL_PACKAGE_GROUP"])
    with transient_errors():
        live = live_version.served_package(sagemaker, os.environ["ENDPOINT_NAME"]) == version.arn
    logger.info("release", extra={"package": version.arn, "live": live, "reason": event["release"].get("reason")})
    return {
        "run_id": event["run_id"],
        "release": event["release"],
        "poll": poll_settings(),
        "package": {
            "arn": version.arn,
            "version": version.number,
            "approval": version.approval,
            "summary": version.summary(),
        },
        "live": live,
    }
