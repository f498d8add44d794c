"""Steps 3/5/7 (wait loops): describe a tuning job, training job or endpoint -> normalized status.

Input: ``{"kind": "tuning" | "training" | "endpoint", "job": <the previous step's result>, "max_polls": N}``.
Returns the job with ``status`` (InProgress or Completed) and ``polls`` + 1; a failure raises with the
job's own reason, and so does a job still running after ``max_polls`` checks (every wait is bounded).
"""

from common import aws, status
from common.aws import transient_errors
from common.powertools import step_handler


def describe(kind: str, job: dict) -> str:
    sagemaker = aws.client("sagemaker")
    with transient_errors():
        if kind == "tuning":
            described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job["name"])
            return status.tuning_status(described)
        if kind == "training":
            return status.training_status(sagemaker.describe_training_job(TrainingJobName=job["name"]))
        if kind == "endpoint":
            described = sagemaker.describe_endpoint(EndpointName=job["endpoint_name"])
            return status.endpoint_status(described, job["config_name"], job.get("replaced_config"))
    raise ValueError(f"unknown kind {kind!r}: tuning, training or endpoint")


@step_handler
def lambda_handler(event: dict) -> dict:
    job = event["job"]
    polls = int(job.get("polls", 0)) + 1
    current = describe(event["kind"], job)
    if current == status.IN_PROGRESS and polls >= int(event["max_polls"]):
        raise status.WaitTimedOut(f"{event['kind']} still in progress after {polls} checks")
    return {**job, "status": current, "polls": polls}
