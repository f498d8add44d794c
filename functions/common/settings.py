"""Settings of the two steps that start SageMaker training (tuning trials and the final job)."""

import json
import os

from common.sagemaker_requests import JobSettings
from model_code.quotas import TRAINING_INSTANCE_COUNT


def job_settings(instance_type: str, instance_count: int = TRAINING_INSTANCE_COUNT) -> JobSettings:
    return JobSettings(
        bucket=os.environ["BUCKET_NAME"],
        jobs_prefix=os.environ["JOBS_PREFIX"],
        models_prefix=os.environ["MODELS_PREFIX"],
        role_arn=os.environ["SAGEMAKER_ROLE_ARN"],
        region=os.environ["AWS_REGION"],  # set by Lambda: the region the jobs run in
        image_uri=os.environ["TRAINING_IMAGE_URI"],
        instance_type=instance_type,
        use_spot=os.environ["USE_SPOT_INSTANCES"] == "true",
        max_runtime_seconds=int(os.environ["MAX_RUNTIME_SECONDS"]),
        epochs=int(os.environ["EPOCHS"]),
        image_size=int(os.environ["IMAGE_SIZE"]),
        weights=os.environ["WEIGHTS"],
        arch=os.environ["ARCHITECTURE"],
        extra_hyperparameters=json.loads(os.environ.get("EXTRA_HYPERPARAMETERS") or "{}"),
        instance_count=instance_count,
    )
