"""Step 5: the final training job (train_model.py) with the best hyperparameters; it records its losses with
smdebug and evaluates LossNotDecreasing, Overfit and Overtraining itself. With DEBUGGER_SERVICE=true the
SageMaker Debugger service's hook configuration, rule jobs and profiler (ProfilerReport) are added."""

import os

from common import aws, naming, sourcedir
from common.aws import transient_errors
from common.powertools import logger, step_handler
from common.sagemaker_requests import training_job_request
from common.settings import job_settings


@step_handler
def lambda_handler(event: dict) -> dict:
    settings = job_settings(os.environ["TRAINING_INSTANCE_TYPE"], int(os.environ["TRAINING_INSTANCE_COUNT"]))
    name = naming.training_job_name(os.environ["SAGEMAKER_NAME_PREFIX"], event["run_id"])
    with transient_errors():
        source_uri = sourcedir.ensure_uploaded(aws.client("s3"), settings.bucket, os.environ["CODE_PREFIX"])
    request = training_job_request(
        name=name,
        settings=settings,
        hyperparameters=event["best"]["hyperparameters"],
        dataset_uri=event["manifest"]["dataset_uri"],
        dataset_fingerprint=event["manifest"]["fingerprint"],
        source_uri=source_uri,
        debugger_service=os.environ["DEBUGGER_SERVICE"] == "true",
        rule_image=os.environ["RULE_EVALUATOR_IMAGE_URI"],
        tags=naming.run_tags(event["run_id"]),
    )
    if not aws.create_once(aws.client("sagemaker").create_training_job, **request):
        logger.info("training job already exists", extra={"job": name})
    logger.info("training job started", extra={"job": name, "hyperparameters": event["best"]["hyperparameters"]})
    return {"name": name, "status": "InProgress", "polls": 0}
