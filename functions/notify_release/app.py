"""Success notifications, beside the failure topic's: a version went live (and is stamped with the time, which
`dogbreeds rollback` reads to go back to the version served before), or a version awaits a person's approval.
They go to the release topic, so that those who subscribe to failures only are not paged for successes."""

import json
import os
from datetime import UTC, datetime

from common import aws
from common.aws import transient_errors
from common.powertools import logger, step_handler
from model_code import registry

MAX_SUBJECT = 100  # SNS's limit
LIVE, AWAITING = "live", "awaiting"


def message(kind: str, package: dict, endpoint_name: str, run_id: str) -> tuple[str, str]:
    """The subject and the body."""
    if kind == LIVE:
        subject = f"Dog-breed model v{package['version']} is live"
        text = f"{package['summary']} is live on endpoint {endpoint_name} (run {run_id})."
    elif kind == AWAITING:
        subject = f"Dog-breed model v{package['version']} awaits approval"
        text = (
            f"{package['summary']} passed the quality gate and awaits approval (run {run_id}). Approve it with "
            f"`dogbreeds approve {package['version']}` or `aws sagemaker update-model-package --model-package-arn "
            f"{package['arn']} --model-approval-status Approved`; the endpoint serves it once approved."
        )
    else:
        raise ValueError(f"kind must be {LIVE!r} or {AWAITING!r}, got {kind!r}")
    return subject[:MAX_SUBJECT], text


@step_handler
def lambda_handler(event: dict) -> dict:
    package, kind = event["package"], event["kind"]
    if kind == LIVE:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        with transient_errors():
            aws.client("sagemaker").update_model_package(
                ModelPackageArn=package["arn"],
                CustomerMetadataProperties=registry.package_metadata({registry.SERVING_SINCE: since}),
            )
    subject, text = message(kind, package, os.environ["ENDPOINT_NAME"], event["run_id"])
    body = {"kind": kind, "message": text, "package": package, "run_id": event["run_id"]}
    with transient_errors():
        aws.client("sns").publish(TopicArn=os.environ["RELEASE_TOPIC_ARN"], Subject=subject, Message=json.dumps(body))
    logger.info("release notified", extra={"kind": kind, "package": package["arn"]})
    return {"kind": kind, "subject": subject}
