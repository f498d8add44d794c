"""The pipeline steps as the template configures them: each function's environment, the events/ they get, and the
stand-in model code that keeps a twin's jobs to seconds."""

import json
from pathlib import Path

from tests.support.paths import ROOT

EVENTS = ROOT / "events" / "pipeline"
FAKE_MODEL_CODE = Path(__file__).with_name("fake_model_code")  # a sourcedir: train_model.py, hpo.py, inference.py

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "dogbreeds",
    "POWERTOOLS_METRICS_NAMESPACE": "DogBreeds",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "BUCKET_NAME": "dogbreeds-data",
    "DATASETS_PREFIX": "datasets/",
    "CODE_PREFIX": "code/",
    "JOBS_PREFIX": "jobs/",
    "MODELS_PREFIX": "models/",
    "SAGEMAKER_NAME_PREFIX": "dogbreeds",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:dogbreeds-pipeline",
    "POLL_INTERVAL_SECONDS": "60",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/dogbreeds-sagemaker",
    "TRAINING_IMAGE_URI": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6-cpu-py312",
    "RULE_EVALUATOR_IMAGE_URI": "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
    "DEBUGGER_SERVICE": "false",
    "TUNING_INSTANCE_TYPE": "ml.m5.large",
    "TRAINING_INSTANCE_TYPE": "ml.m5.xlarge",
    "TRAINING_INSTANCE_COUNT": "1",
    "MAX_TUNING_JOBS": "4",
    "MAX_PARALLEL_TUNING_JOBS": "2",
    "LEARNING_RATE_MIN": "0.0001",
    "LEARNING_RATE_MAX": "0.01",
    "BATCH_SIZES": "32,64",
    "EPOCHS": "5",
    "ARCHITECTURE": "resnet18",
    "WARM_START": "true",
    "IMAGE_SIZE": "224",
    "WEIGHTS": "imagenet",
    "EXTRA_HYPERPARAMETERS": '{"fine-tune": "full"}',
    "USE_SPOT_INSTANCES": "true",
    "MAX_RUNTIME_SECONDS": "7200",
    "ACCURACY_THRESHOLD": "0.6",
    "ACCURACY_TOLERANCE": "0.01",
    "CRITICAL_RULES": "LossNotDecreasing,Overfit",
    "ENDPOINT_NAME": "dogbreeds-endpoint",
    "INFERENCE_IMAGE_URI": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
    "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
    "SERVERLESS_INFERENCE": "false",
    "SERVERLESS_MEMORY_MB": "3072",
    "SERVERLESS_MAX_CONCURRENCY": "2",
    "SERVERLESS_PROVISIONED_CONCURRENCY": "0",
    "ENDPOINT_MIN_INSTANCES": "1",
    "ENDPOINT_MAX_INSTANCES": "1",
    "ENDPOINT_INVOCATIONS_PER_INSTANCE": "70",
    "ROLLBACK_ALARM_NAME": "dogbreeds-EndpointErrorsAlarm-1AB2C3D4E5F6",
    "FAILURE_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:dogbreeds-failures",
    "RELEASE_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:dogbreeds-releases",
    "MODEL_PACKAGE_GROUP": "dogbreeds-models",
    "APPROVAL_MODE": "auto",
}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def plant_stand_in_model_code(twin, sourcedir) -> None:
    """The stand-in code stored where the steps look for the real model code's sourcedir.tar.gz.

    The steps upload the archive only when its content-hash key is missing, so they find and use this one.
    """
    real_hash, _ = sourcedir.build_archive()
    _, stand_in = sourcedir.build_archive(FAKE_MODEL_CODE)
    code_prefix = twin.template.functions()["StartTuningFunction"].environment["CODE_PREFIX"]
    twin.client("s3").put_object(
        Bucket=twin.template.bucket().name, Key=f"{code_prefix}sourcedir-{real_hash}.tar.gz", Body=stand_in
    )
