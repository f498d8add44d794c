"""On any failure: stop the run's tuning and training jobs if they still run, then publish the execution, the
failed state, the cause and what was stopped to the failure topic.

Two callers: the state machine's Catch (every failure inside the run), and an EventBridge rule for runs that
end without reaching it: timed out (the execution's own TimeoutSeconds) or aborted. Both know the run id (the
execution's name), and the job names are derived from it (common/naming.py), so no history has to be read.
"""

import contextlib
import json
import os

from botocore.exceptions import ClientError

from common import aws, naming
from common.aws import error_code, transient_errors
from common.powertools import logger, step_handler

MAX_SUBJECT = 100  # SNS's limit


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


def described_status(kind: str, name: str) -> str | None:
    """The job's status, or None when the run never created it (SageMaker: ResourceNotFound for tuning jobs,
    ValidationException for training jobs)."""
    sagemaker = aws.client("sagemaker")
    try:
        with transient_errors():
            if kind == "tuning":
                described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                return described["HyperParameterTuningJobStatus"]
            return sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
    except ClientError as error:
        if error_code(error) in ("ResourceNotFound", "ValidationException"):
            return None
        raise


def stop_running_jobs(run_id: str) -> list[str]:
    """Stop the run's tuning job (SageMaker stops its trials with it) and its final training job where they are
    still InProgress; returns the names of the jobs asked to stop."""
    prefix = os.environ["SAGEMAKER_NAME_PREFIX"]
    tuning, training = naming.tuning_job_name(prefix, run_id), naming.training_job_name(prefix, run_id)
    sagemaker = aws.client("sagemaker")
    stopped = []
    with transient_errors():
        if described_status("tuning", tuning) == "InProgress":
            sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
            stopped.append(tuning)
        if described_status("training", training) == "InProgress":
            sagemaker.stop_training_job(TrainingJobName=training)
            stopped.append(training)
    if stopped:
        logger.warning("stopped the failed run's jobs", extra={"jobs": stopped})
    return stopped


@step_handler
def lambda_handler(event: dict) -> dict:
    if event.get("detail-type") == STATUS_CHANGE:
        event = from_status_change(event)
        logger.append_keys(run_id=event["run_id"])
    message = failure_message(event["execution"], event["failed_state"], event["error"])
    message["stopped_jobs"] = stop_running_jobs(event["run_id"])
    subject = f"Dog-breed pipeline failed in {message['failed_state']}: {message['error']}"[:MAX_SUBJECT]
    with transient_errors():
        topic = os.environ["FAILURE_TOPIC_ARN"]
        aws.client("sns").publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
    logger.error("pipeline failed", extra=message)
    return message
