"""Step 2: before any paid job, the account's SageMaker quotas (Service Quotas) against what this run needs.

A quota too low fails the run with QuotaTooLow, whose cause names every shortfall: the quota (name and code),
the value the run needs, the value the account has, and where to request more (model_code/quotas.py). A quota
Service Quotas does not list is logged as unreadable and let through: SageMaker itself enforces it.
"""

import os

from common import aws
from common.aws import transient_errors
from common.powertools import logger, metrics, step_handler
from model_code import quotas


class QuotaTooLow(Exception):
    """The account's quotas cannot run this stack's jobs: the run stops before it pays for any."""


def stack_config() -> quotas.StackConfig:
    return quotas.StackConfig(
        tuning_instance_type=os.environ["TUNING_INSTANCE_TYPE"],
        training_instance_type=os.environ["TRAINING_INSTANCE_TYPE"],
        endpoint_instance_type=os.environ["ENDPOINT_INSTANCE_TYPE"],
        max_tuning_jobs=int(os.environ["MAX_TUNING_JOBS"]),
        max_parallel_tuning_jobs=int(os.environ["MAX_PARALLEL_TUNING_JOBS"]),
        use_spot=os.environ["USE_SPOT_INSTANCES"] == "true",
        serverless=os.environ["SERVERLESS_INFERENCE"] == "true",
        serverless_memory_mb=int(os.environ["SERVERLESS_MEMORY_MB"]),
        serverless_max_concurrency=int(os.environ["SERVERLESS_MAX_CONCURRENCY"]),
        training_instance_count=int(os.environ["TRAINING_INSTANCE_COUNT"]),
        endpoint_max_instances=int(os.environ["ENDPOINT_MAX_INSTANCES"]),
    )


@step_handler
def lambda_handler(event: dict) -> dict:
    region = os.environ["AWS_REGION"]  # set by Lambda: the region the jobs run in
    with transient_errors():
        readings = quotas.read(aws.client("service-quotas"), quotas.needs(stack_config()))
    unreadable = [reading.need.quota.name for reading in readings if not reading.readable]
    if unreadable:
        logger.warning(
            "quotas Service Quotas does not list (SageMaker still enforces them)", extra={"quotas": unreadable}
        )
    too_low = quotas.shortfalls(readings, region)
    if too_low:
        metrics.add_metric(name="QuotaTooLow", unit="Count", value=1)
        raise QuotaTooLow(f"{len(too_low)} SageMaker quota(s) too low for this stack: " + " | ".join(too_low))
    checked = {reading.need.quota.name: reading.value for reading in readings if reading.readable}
    logger.info("quotas enough", extra={"quotas": checked})
    return {"checked": len(readings), "unreadable": unreadable}
