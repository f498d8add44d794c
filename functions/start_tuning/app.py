"""Step 2: ship the model code (sourcedir.tar.gz by content hash) and start the tuning job."""

import os

from common import aws, naming, sourcedir
from common.aws import transient_errors
from common.powertools import logger, step_handler
from common.sagemaker_requests import TuningSettings, parse_batch_sizes, tuning_job_request
from common.settings import job_settings


def tuning_settings() -> TuningSettings:
    return TuningSettings(
        max_jobs=int(os.environ["MAX_TUNING_JOBS"]),
        max_parallel_jobs=int(os.environ["MAX_PARALLEL_TUNING_JOBS"]),
        learning_rate_min=float(os.environ["LEARNING_RATE_MIN"]),
        learning_rate_max=float(os.environ["LEARNING_RATE_MAX"]),
        batch_sizes=parse_batch_sizes(os.environ["BATCH_SIZES"]),
    )


@step_handler
def lambda_handler(event: dict) -> dict:
    settings = job_settings(os.environ["TUNING_INSTANCE_TYPE"])
    name = naming.tuning_job_name(os.environ["SAGEMAKER_NAME_PREFIX"], event["run_id"])
    with transient_errors():
        source_uri = sourcedir.ensure_uploaded(aws.client("s3"), settings.bucket, os.environ["CODE_PREFIX"])
    request = tuning_job_request(
        name=name,
        settings=settings,
        tuning=tuning_settings(),
        dataset_uri=event["manifest"]["dataset_uri"],
        source_uri=source_uri,
        tags=naming.run_tags(event["run_id"]),
    )
    if not aws.create_once(aws.client("sagemaker").create_hyper_parameter_tuning_job, **request):
        logger.info("tuning job already exists", extra={"job": name})  # a retried step finds its own job
    logger.info("tuning job started", extra={"job": name, "source": source_uri})
    return {"name": name, "source_uri": source_uri, "status": "InProgress", "polls": 0}
