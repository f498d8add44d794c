"""Step 2: ship the model code (sourcedir.tar.gz by content hash) and start the tuning job, warm-started from
this stack's earlier completed tuning jobs (unless WARM_START is false)."""

import os

from common import aws, naming, sourcedir
from common.aws import transient_errors
from common.powertools import logger, step_handler
from common.sagemaker_requests import TuningSettings, parse_batch_sizes, tuning_job_request, warm_start_config
from common.settings import job_settings

# Earlier tuning jobs described to find warm-start parents (newest first): enough to find the 5 allowed
# parents among a few incompatible ones, few enough to keep the step short.
MAX_CANDIDATES = 10


def tuning_settings() -> TuningSettings:
    return TuningSettings(
        max_jobs=int(os.environ["MAX_TUNING_JOBS"]),
        max_parallel_jobs=int(os.environ["MAX_PARALLEL_TUNING_JOBS"]),
        learning_rate_min=float(os.environ["LEARNING_RATE_MIN"]),
        learning_rate_max=float(os.environ["LEARNING_RATE_MAX"]),
        batch_sizes=parse_batch_sizes(os.environ["BATCH_SIZES"]),
    )


def earlier_tuning_jobs(sagemaker, prefix: str, exclude: str) -> list[dict]:
    """This stack's Completed tuning jobs, newest first, as DescribeHyperParameterTuningJob answers."""
    with transient_errors():
        listed = sagemaker.list_hyper_parameter_tuning_jobs(
            NameContains=f"{prefix}-",
            StatusEquals="Completed",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=100,
        )["HyperParameterTuningJobSummaries"]
    names = [
        job["HyperParameterTuningJobName"]
        for job in listed
        if job["HyperParameterTuningJobName"].startswith(f"{prefix}-") and job["HyperParameterTuningJobName"] != exclude
    ][:MAX_CANDIDATES]
    with transient_errors():
        return [sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name) for name in names]


@step_handler
def lambda_handler(event: dict) -> dict:
    settings = job_settings(os.environ["TUNING_INSTANCE_TYPE"])
    prefix = os.environ["SAGEMAKER_NAME_PREFIX"]
    name = naming.tuning_job_name(prefix, event["run_id"])
    with transient_errors():
        source_uri = sourcedir.ensure_uploaded(aws.client("s3"), settings.bucket, os.environ["CODE_PREFIX"])
    request = tuning_job_request(
        name=name,
        settings=settings,
        tuning=tuning_settings(),
        dataset_uri=event["manifest"]["dataset_uri"],
        dataset_fingerprint=event["manifest"]["fingerprint"],
        source_uri=source_uri,
        tags=naming.run_tags(event["run_id"]),
    )
    sagemaker = aws.client("sagemaker")
    if os.environ["WARM_START"] == "true":
        warm_start = warm_start_config(request, earlier_tuning_jobs(sagemaker, prefix, exclude=name))
        if warm_start:
            request["WarmStartConfig"] = warm_start
    if not aws.create_once(sagemaker.create_hyper_parameter_tuning_job, **request):
        logger.info("tuning job already exists", extra={"job": name})  # a retried step finds its own job
    logger.info(
        "tuning job started", extra={"job": name, "source": source_uri, "warm_start": request.get("WarmStartConfig")}
    )
    return {"name": name, "source_uri": source_uri, "status": "InProgress", "polls": 0}
