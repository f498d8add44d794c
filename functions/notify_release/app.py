"""Success notifications, beside the failure topic's: a version went live, or a version awaits a person's approval.
They go to the release topic, so that those who subscribe to failures only are not paged for successes."""

import os

from common.notifications import publish
from common.powertools import logger, step_handler

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
    return subject, text


@step_handler
def lambda_handler(event: dict) -> dict:
    package, kind = event["package"], event["kind"]
    subject, text = message(kind, package, os.environ["ENDPOINT_NAME"], event["run_id"])
    body = {"kind": kind, "message": text, "package": package, "run_id": event["run_id"]}
    publish(os.environ["RELEASE_TOPIC_ARN"], subject, body)
    logger.info("release notified", extra={"kind": kind, "package": package["arn"]})
    return {"kind": kind, "subject": subject}
