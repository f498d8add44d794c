"""EventBridge target that starts the pipeline's executions: one per uploaded dataset version, and, when the stack
approves models manually (ApprovalMode manual), one release per version a person approves in the model registry.

EventBridge delivers at least once, and SageMaker may send one state change more than once: the execution name is
derived from the bucket, key and version (or ETag), or from the package and the time of its change, so a
redelivered event meets ExecutionAlreadyExists and starts nothing.
"""

import json
import os

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from botocore.exceptions import ClientError

from common import aws
from common.aws import error_code, transient_errors
from common.naming import execution_name
from common.poll_budget import poll_settings
from common.powertools import logger, metrics, tracer
from model_code import registry


def execution_input(bucket: str, key: str, version: str | None, etag: str, size: int | None, run_id: str) -> dict:
    """The state machine's input: the dataset, the run id and the polling budget."""
    return {
        "run_id": run_id,
        "dataset": {"bucket": bucket, "key": key, "version_id": version, "etag": etag, "size": size},
        "poll": poll_settings(),
    }


DATASET_SUFFIX = ".zip"  # in any case; the upload rule in template.yaml matches the same keys


def is_dataset_upload(key: str) -> bool:
    return key.startswith(os.environ["DATASETS_PREFIX"]) and key.lower().endswith(DATASET_SUFFIX)


PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"


def release_input(detail: dict) -> tuple[str, dict] | None:
    """The release execution's name and input for an approval; None for a state change that releases nothing (the
    rule asks for Approved versions of the stack's group only; in auto mode the run that registered a version
    deploys it itself, so an approval event there must not deploy it a second time)."""
    if os.environ["APPROVAL_MODE"] != registry.MANUAL or detail.get("ModelApprovalStatus") != registry.APPROVED:
        return None
    arn = detail["ModelPackageArn"]
    run_id = registry.release_execution_name(int(detail["ModelPackageVersion"]), arn, str(detail["LastModifiedTime"]))
    return run_id, registry.release_input(run_id, arn, "approved in the registry")


def upload_input(event: dict) -> tuple[str, dict] | None:
    upload = parse(event=event, model=S3EventNotificationEventBridgeModel).detail
    bucket, key = upload.bucket.name, upload.object.key
    if not is_dataset_upload(key):
        logger.info("not a dataset upload, ignored", extra={"key": key})
        return None
    run_id = execution_name(bucket, key, upload.object.version_id or upload.object.etag)
    size = int(upload.object.size) if upload.object.size is not None else None
    return run_id, execution_input(bucket, key, upload.object.version_id, upload.object.etag, size, run_id)


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    if event.get("detail-type") == PACKAGE_STATE_CHANGE:
        started = release_input(event["detail"])
        if started is None:
            logger.info("a model package change that releases nothing", extra={"detail": event["detail"]})
            return {"started": False, "reason": "not an approval to release"}
    else:
        started = upload_input(event)
        if started is None:
            return {"started": False, "reason": "not a dataset upload"}
    run_id, payload = started
    try:
        with transient_errors():
            execution = aws.client("stepfunctions").start_execution(
                stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=run_id, input=json.dumps(payload)
            )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        logger.info("duplicate delivery: this object version already has a run", extra={"run_id": run_id})
        return {"started": False, "run_id": run_id, "reason": "duplicate delivery"}
    logger.info("pipeline started", extra={"run_id": run_id, "execution_arn": execution["executionArn"]})
    metrics.add_metric(name="RunsStarted", unit="Count", value=1)
    return {"started": True, "run_id": run_id, "execution_arn": execution["executionArn"]}
