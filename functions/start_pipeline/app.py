"""EventBridge target for dataset uploads: starts one execution per object version.

EventBridge delivers at least once; the execution name is derived from bucket, key and version (or
ETag), so a redelivered event meets ExecutionAlreadyExists and starts nothing.
"""

import json
import os

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from botocore.exceptions import ClientError

from common import aws
from common.aws import error_code, transient_errors
from common.naming import execution_name
from common.poll_budget import phase_seconds, poll_plan
from common.powertools import logger, metrics, tracer


def poll_settings() -> dict:
    """The wait loops' interval and budgets, from the same settings the jobs are created with."""
    phases = phase_seconds(
        max_runtime_seconds=int(os.environ["MAX_RUNTIME_SECONDS"]),
        use_spot=os.environ["USE_SPOT_INSTANCES"] == "true",
        max_tuning_jobs=int(os.environ["MAX_TUNING_JOBS"]),
        max_parallel_jobs=int(os.environ["MAX_PARALLEL_TUNING_JOBS"]),
    )
    return poll_plan(int(os.environ["POLL_INTERVAL_SECONDS"]), phases)


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


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    upload = parse(event=event, model=S3EventNotificationEventBridgeModel).detail
    bucket, key = upload.bucket.name, upload.object.key
    if not is_dataset_upload(key):
        logger.info("not a dataset upload, ignored", extra={"key": key})
        return {"started": False, "reason": "not a dataset upload"}
    run_id = execution_name(bucket, key, upload.object.version_id or upload.object.etag)
    size = int(upload.object.size) if upload.object.size is not None else None
    payload = execution_input(bucket, key, upload.object.version_id, upload.object.etag, size, run_id)
    try:
        with transient_errors():
            started = aws.client("stepfunctions").start_execution(
                stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=run_id, input=json.dumps(payload)
            )
    except ClientError as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        logger.info("duplicate delivery: this object version already has a run", extra={"run_id": run_id})
        return {"started": False, "run_id": run_id, "reason": "duplicate delivery"}
    logger.info("pipeline started", extra={"run_id": run_id, "execution_arn": started["executionArn"]})
    metrics.add_metric(name="RunsStarted", unit="Count", value=1)
    return {"started": True, "run_id": run_id, "execution_arn": started["executionArn"]}
