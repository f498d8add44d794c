"""Steps 3/5/7 (wait loops): describe a tuning job, training job or endpoint -> normalized status.

Input: ``{"kind": "tuning" | "training" | "endpoint", "job": <the previous step's result>, "max_polls": N}``.
Returns the job with ``status`` (InProgress or Completed) and ``polls`` + 1; a failure raises with the
job's own reason, and so does a job still running after ``max_polls`` checks (every wait is bounded).
"""

from aws_lambda_powertools.metrics import MetricUnit

from common import aws, status
from common.aws import transient_errors
from common.powertools import metrics, step_handler


def describe(kind: str, job: dict) -> tuple[str, float | None]:
    """The normalized status, and how long the job ran once it is done (None for an endpoint or a running job)."""
    sagemaker = aws.client("sagemaker")
    with transient_errors():
        if kind == "tuning":
            described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job["name"])
            return status.tuning_status(described), status.tuning_seconds(described)
        if kind == "training":
            described = sagemaker.describe_training_job(TrainingJobName=job["name"])
            return status.training_status(described), status.training_seconds(described)
        if kind == "endpoint":
            described = sagemaker.describe_endpoint(EndpointName=job["endpoint_name"])
            return status.endpoint_status(described, job["config_name"], job.get("replaced_config")), None
    raise ValueError(f"unknown kind {kind!r}: tuning, training or endpoint")


@step_handler
def lambda_handler(event: dict) -> dict:
    job = event["job"]
    polls = int(job.get("polls", 0)) + 1
    current, seconds = describe(event["kind"], job)
    if current == status.IN_PROGRESS and polls >= int(event["max_polls"]):
        raise status.WaitTimedOut(f"{event['kind']} still in progress after {polls} checks")
    if current == status.COMPLETED and seconds is not None:  # the dashboard's job durations
        metrics.add_dimension(name="JobKind", value=event["kind"])
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=seconds)
    return {**job, "status": current, "polls": polls}
