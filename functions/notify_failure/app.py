"""On any failure: stop the run's tuning and training jobs if they still run, then publish the execution, the
failed state, the cause and what was stopped to the failure topic.

Two callers: the state machine's Catch (every failure inside the run), and an EventBridge rule for runs that
end without reaching it: timed out (the execution's own TimeoutSeconds) or aborted. Both know the run id (the
execution's name), and the job names are derived from it (common/naming.py), so no history has to be read.
"""

import contextlib
import json
import os

from common import aws
from common.notifications import publish
from common.powertools import logger, step_handler
from common.run_jobs import stop_running_jobs


def failure_message(execution: str, failed_state: str, error: dict) -> dict:
    cause = error.get("Cause", "")
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda's error is JSON {"errorMessage", ...}
        cause = json.loads(cause).get("errorMessage", cause)
    error_name = error.get("Error", "Unknown")
    return {"execution": execution, "failed_state": failed_state, "error": error_name, "cause": cause}


STATUS_CHANGE = "Step Functions Execution Status Change"


def from_status_change(event: dict) -> dict:
    """EventBridge's report of an execution that ended TIMED_OUT or ABORTED, as the Catch's input."""
    detail = event["detail"]
    status = detail["status"]
    error = detail.get("error") or f"Execution{status.title().replace('_', '')}"
    cause = detail.get("cause") or f"the execution ended {status} before any step failed"
    return {
        "run_id": detail.get("name"),
        "execution": detail["executionArn"],
        "failed_state": status,
        "error": {"Error": error, "Cause": cause},
    }


@step_handler
def lambda_handler(event: dict) -> dict:
    if event.get("detail-type") == STATUS_CHANGE:
        event = from_status_change(event)
        logger.append_keys(run_id=event["run_id"])
    message = failure_message(event["execution"], event["failed_state"], event["error"])
    message["stopped_jobs"] = stop_running_jobs(
        aws.client("sagemaker"), os.environ["SAGEMAKER_NAME_PREFIX"], event["run_id"]
    )
    if message["stopped_jobs"]:
        logger.warning("stopped the failed run's jobs", extra={"jobs": message["stopped_jobs"]})
    subject = f"Dog-breed pipeline failed in {message['failed_state']}: {message['error']}"
    publish(os.environ["FAILURE_TOPIC_ARN"], subject, message)
    logger.error("pipeline failed", extra=message)
    return message
