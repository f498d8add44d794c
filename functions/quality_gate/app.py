"""Step 6: deploy only a model that is good enough.

Rejects (ModelRejected, with the reason) when the test accuracy is under the threshold, when a
configured-critical Debugger rule found issues or could not be evaluated, or when the model serving now
scored better. A rule's verdicts come from the training job itself (its metric lines, in FinalMetricDataList:
every account) and, when the stack asks for the Debugger service, from the service's rule job
(DebugRuleEvaluationStatuses): a critical rule vouches for the model only when every verdict it has says
NoIssuesFound. What is served is read back from SageMaker itself (endpoint -> config -> model, whose
environment carries its test accuracy), so the record survives everything and always describes what really
answers.
"""

import os

from botocore.exceptions import ClientError

from common import aws
from common.aws import error_code, transient_errors
from common.powertools import logger, metrics, step_handler
from model_code.metrics import TEST_ACCURACY
from model_code.rule_settings import RULE_NAMES, verdict_from_metric, verdict_metric

SERVED_ACCURACY_VARIABLE = "MODEL_TEST_ACCURACY"


class ModelRejected(Exception):
    pass


def final_metric(described: dict, name: str) -> float | None:
    for metric in described.get("FinalMetricDataList", []):
        if metric["MetricName"] == name:
            return float(metric["Value"])
    return None


def served_accuracy(endpoint_name: str) -> float | None:
    """The test accuracy of the model the endpoint serves now; None when nothing is served."""
    sagemaker = aws.client("sagemaker")
    try:
        with transient_errors():
            endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if error_code(error) == "ValidationException":  # "Could not find endpoint"
            return None
        raise
    with transient_errors():
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    value = model.get("PrimaryContainer", {}).get("Environment", {}).get(SERVED_ACCURACY_VARIABLE)
    return float(value) if value is not None else None


def rule_verdicts(described: dict) -> dict[str, dict[str, dict]]:
    """``{rule: {"job": evaluation, "service": evaluation}}``, each evaluation shaped as DescribeTrainingJob's
    DebugRuleEvaluationStatuses items; a source that did not judge the rule is absent."""
    verdicts: dict[str, dict[str, dict]] = {}
    for rule in RULE_NAMES:
        value = final_metric(described, verdict_metric(rule))
        if value is not None:
            verdicts.setdefault(rule, {})["job"] = {"RuleEvaluationStatus": verdict_from_metric(value)}
    for evaluation in described.get("DebugRuleEvaluationStatuses", []):
        verdicts.setdefault(evaluation["RuleConfigurationName"], {})["service"] = evaluation
    return verdicts


def _rule_outcome(name: str, sources: dict[str, dict]) -> str:
    if not sources:
        return f"{name}: not configured on the training job"
    outcomes = []
    for source, evaluation in sorted(sources.items()):
        outcome = f"{name} ({source}): {evaluation.get('RuleEvaluationStatus', 'Unknown')}"
        details = evaluation.get("StatusDetails")
        outcomes.append(f"{outcome} ({details})" if details else outcome)
    return ", ".join(outcomes)


def decide(described: dict, threshold: float, critical_rules: set[str], served: float | None) -> dict:
    """Pure: the gate's verdict for a completed training job."""
    accuracy = final_metric(described, TEST_ACCURACY)
    if accuracy is None:
        raise ModelRejected(f"the training job reported no {TEST_ACCURACY}")
    if accuracy < threshold:
        raise ModelRejected(f"test accuracy {accuracy:.4f} is below the threshold {threshold:.4f}")
    verdicts = rule_verdicts(described)
    statuses = {
        name: {source: evaluation.get("RuleEvaluationStatus", "Unknown") for source, evaluation in sources.items()}
        for name, sources in verdicts.items()
    }
    failed = sorted(name for name in critical_rules if "IssuesFound" in statuses.get(name, {}).values())
    if failed:
        details = "; ".join(_rule_outcome(name, verdicts[name]) for name in failed)
        raise ModelRejected(f"critical Debugger rule(s) found issues: {details}")
    # A critical rule vouches for the model only by finishing with NoIssuesFound wherever it ran: one that
    # errored (no losses recorded, say), was stopped or never ran proves nothing.
    unproven = [
        name
        for name in sorted(critical_rules)
        if not statuses.get(name) or set(statuses[name].values()) != {"NoIssuesFound"}
    ]
    if unproven:
        details = "; ".join(_rule_outcome(name, verdicts.get(name, {})) for name in unproven)
        raise ModelRejected(f"critical Debugger rule(s) did not evaluate to NoIssuesFound: {details}")
    if served is not None and accuracy < served:
        raise ModelRejected(f"test accuracy {accuracy:.4f} is worse than the served model's {served:.4f}")
    return {
        "model_data": described["ModelArtifacts"]["S3ModelArtifacts"],
        "test_accuracy": accuracy,
        "served_accuracy": served,
        "rules": statuses,
    }


@step_handler
def lambda_handler(event: dict) -> dict:
    with transient_errors():
        described = aws.client("sagemaker").describe_training_job(TrainingJobName=event["training"]["name"])
    critical = {name.strip() for name in os.environ["CRITICAL_RULES"].split(",") if name.strip()}
    try:
        verdict = decide(
            described, float(os.environ["ACCURACY_THRESHOLD"]), critical, served_accuracy(os.environ["ENDPOINT_NAME"])
        )
    except ModelRejected as rejection:
        logger.warning("model rejected", extra={"reason": str(rejection)})
        metrics.add_metric(name="ModelsRejected", unit="Count", value=1)
        raise
    logger.info("model accepted", extra=verdict)
    return verdict
