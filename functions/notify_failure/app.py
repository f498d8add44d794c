"""On any failure: publish the execution, the failed state and the cause to the failure topic."""

import contextlib
import json
import os

from common import aws
from common.aws import transient_errors
from common.powertools import logger, step_handler

MAX_SUBJECT = 100  # SNS's limit


def failure_message(execution: str, failed_state: str, error: dict) -> dict:
    cause = error.get("Cause", "")
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda's error is JSON {"errorMessage", ...}
        cause = json.loads(cause).get("errorMessage", cause)
    error_name = error.get("Error", "Unknown")
    return {"execution": execution, "failed_state": failed_state, "error": error_name, "cause": cause}


@step_handler
def lambda_handler(event: dict) -> dict:
    message = failure_message(event["execution"], event["failed_state"], event["error"])
    subject = f"Dog-breed pipeline failed in {message['failed_state']}: {message['error']}"[:MAX_SUBJECT]
    with transient_errors():
        topic = os.environ["FAILURE_TOPIC_ARN"]
        aws.client("sns").publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
    logger.error("pipeline failed", extra=message)
    return message
