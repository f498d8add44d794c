"""A run's SageMaker jobs, found by the names its run id gives them (common/naming.py): NotifyFailure stops them
when the run fails, times out or is aborted, and so does the acceptance run's teardown (scripts/aws_smoke.py)."""

from botocore.exceptions import ClientError

from common import naming
from common.aws import error_code, transient_errors


def described_status(sagemaker, kind: str, name: str) -> str | None:
    """The job's status, or None when the run never created it (SageMaker: ResourceNotFound for tuning jobs,
    ValidationException for training jobs)."""
    try:
        with transient_errors():
            if kind == "tuning":
                described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                return described["HyperParameterTuningJobStatus"]
            return sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
    except ClientError as error:
        if error_code(error) in ("ResourceNotFound", "ValidationException"):
            return None
        raise


def stop_running_jobs(sagemaker, prefix: str, run_id: str) -> list[str]:
    """Stop the run's tuning job (SageMaker stops its trials with it) and its final training job where they are
    still InProgress; returns the names of the jobs asked to stop."""
    tuning, training = naming.tuning_job_name(prefix, run_id), naming.training_job_name(prefix, run_id)
    stopped = []
    with transient_errors():
        if described_status(sagemaker, "tuning", tuning) == "InProgress":
            sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
            stopped.append(tuning)
        if described_status(sagemaker, "training", training) == "InProgress":
            sagemaker.stop_training_job(TrainingJobName=training)
            stopped.append(training)
    return stopped
