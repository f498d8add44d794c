"""Names that are deterministic per run (so a retried step finds its own job instead of a second one)
and within SageMaker's limits: tuning jobs 32 characters, everything else 63, pattern
``[a-zA-Z0-9](-*[a-zA-Z0-9])*``; Step Functions execution names 80.
"""

import hashlib
import re

MAX_TUNING_JOB_NAME = 32
MAX_SAGEMAKER_NAME = 63
MAX_EXECUTION_NAME = 80


def execution_name(bucket: str, key: str, version: str) -> str:
    """One name per object version: a redelivered event gets ExecutionAlreadyExists, not a second run."""
    digest = hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", key.rsplit("/", 1)[-1].removesuffix(".zip")).strip("-_") or "dataset"
    return f"{stem[: MAX_EXECUTION_NAME - len(digest) - 1]}-{digest}"


def run_tag(run_id: str) -> str:
    """10 hex characters identifying the run inside SageMaker names."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:10]


def _checked(name: str, limit: int) -> str:
    if len(name) > limit or not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name):
        raise ValueError(f"invalid SageMaker name {name!r} (at most {limit} characters, letters, digits, hyphens)")
    return name


def tuning_job_name(prefix: str, run_id: str) -> str:
    return _checked(f"{prefix}-{run_tag(run_id)}-hpo", MAX_TUNING_JOB_NAME)


def training_job_name(prefix: str, run_id: str) -> str:
    return _checked(f"{prefix}-{run_tag(run_id)}-train", MAX_SAGEMAKER_NAME)


def model_name(prefix: str, run_id: str) -> str:
    return _checked(f"{prefix}-{run_tag(run_id)}-model", MAX_SAGEMAKER_NAME)


def endpoint_config_name(prefix: str, run_id: str) -> str:
    return _checked(f"{prefix}-{run_tag(run_id)}-config", MAX_SAGEMAKER_NAME)


def run_tags(run_id: str) -> list[dict[str, str]]:
    return [{"Key": "pipeline-run", "Value": run_id}]


def register_token(run_id: str) -> str:
    """CreateModelPackage's ClientToken (1-36 of ``[a-zA-Z0-9-]``): boto3 fills a random one when it is absent, so a
    retried Register would create a second version; one per run finds the first."""
    return hashlib.sha256(f"register#{run_id}".encode()).hexdigest()[:32]
