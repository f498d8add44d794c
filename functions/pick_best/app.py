"""Step 4: the best trial's hyperparameters, typed (SageMaker returns strings, older SDKs even quoted
ones), and its objective value."""

import json

from common import aws
from common.aws import transient_errors
from common.powertools import logger, step_handler


def typed(value: str):
    """'0.001' -> 0.001, '32' -> 32, '"32"' -> 32, 'full' -> 'full'."""
    for _ in range(2):
        try:
            value = json.loads(value)
        except (TypeError, ValueError):
            return value
        if not isinstance(value, str):
            return value
    return value


def best_trial(described: dict) -> dict:
    best = described["BestTrainingJob"]
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    return {
        "training_job_name": best["TrainingJobName"],
        "hyperparameters": {key: typed(value) for key, value in best["TunedHyperParameters"].items()},
        "objective": {"metric": objective.get("MetricName"), "value": objective.get("Value")},
    }


@step_handler
def lambda_handler(event: dict) -> dict:
    with transient_errors():
        described = aws.client("sagemaker").describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=event["tuning"]["name"]
        )
    best = best_trial(described)
    logger.info("best trial", extra=best)
    return best
