"""Step 6: deploy only a model that is good enough.

Rejects (ModelRejected, with the reason) when the test accuracy is under the threshold, when a
configured-critical Debugger rule found issues or could not be evaluated, or when the version serving now scored
better on the same test split by more than the tolerance (AccuracyTolerance: two trainings of equal quality on the
same images differ by an image or two, so a strict comparison would refuse an equal retrain up to half the
time). What is served is read back from SageMaker itself (endpoint -> config -> model -> the model package it was
made from, whose record holds its test accuracy and dataset), so the comparison always describes what really
answers. Accuracies are compared only when both were measured on the same dataset (its
fingerprint): across datasets the verdict rests on the threshold and the rules, and says so.
"""

import os

from common import aws
from common.aws import transient_errors
from common.powertools import logger, metrics, step_handler
from common.training_results import final_metric, rule_statuses, rule_verdicts
from model_code import live_version, registry
from model_code.metrics import TEST_ACCURACY


class ModelRejected(Exception):
    pass


def _rule_outcome(name: str, sources: dict[str, dict]) -> str:
    if not sources:
        return f"{name}: not configured on the training job"
    outcomes = []
    for source, evaluation in sorted(sources.items()):
        outcome = f"{name} ({source}): {evaluation.get('RuleEvaluationStatus', 'Unknown')}"
        details = evaluation.get("StatusDetails")
        outcomes.append(f"{outcome} ({details})" if details else outcome)
    return ", ".join(outcomes)


# What the endpoint serves, as the gate sees it: nothing, a model without a registry record, or a version.
NOTHING_SERVED = "nothing"
UNREGISTERED = "unregistered"


def comparison(
    accuracy: float, fingerprint: str, served: registry.Version | str, tolerance: float
) -> tuple[float | None, str]:
    """The live model's accuracy when it is comparable with this one (None otherwise), and the sentence that says
    what was compared. Raises ModelRejected when the live version did better on the same test split by more than
    ``tolerance``."""
    if served == NOTHING_SERVED:
        return None, "nothing is served yet"
    if served == UNREGISTERED:
        return None, "not compared: the live model has no registry record (deployed before the registry)"
    if served.fingerprint != fingerprint or served.test_accuracy is None:
        return None, (
            f"not compared: live v{served.number} was tested on dataset {served.dataset} "
            f"(fingerprint {served.fingerprint}), this model on fingerprint {fingerprint}"
        )
    live = f"live v{served.number}'s {served.test_accuracy:.4f} on the same test split"
    shortfall = round(served.test_accuracy - accuracy, 6)  # accuracies are ratios of counts: no float dust
    if shortfall > tolerance:
        raise ModelRejected(
            f"test accuracy {accuracy:.4f} is worse than {live}, by more than the tolerance {tolerance:.4f}"
        )
    if shortfall > 0:
        return served.test_accuracy, f"within the tolerance {tolerance:.4f} of {live}"
    return (
        served.test_accuracy,
        f"not worse than live v{served.number} ({served.test_accuracy:.4f}) on the same test split",
    )


def decide(
    described: dict,
    threshold: float,
    critical_rules: set[str],
    fingerprint: str,
    served: registry.Version | str,
    tolerance: float = 0.0,
) -> dict:
    """Pure: the gate's verdict for a completed training job."""
    accuracy = final_metric(described, TEST_ACCURACY)
    if accuracy is None:
        raise ModelRejected(f"the training job reported no {TEST_ACCURACY}")
    if accuracy < threshold:
        raise ModelRejected(f"test accuracy {accuracy:.4f} is below the threshold {threshold:.4f}")
    verdicts = rule_verdicts(described)
    statuses = rule_statuses(verdicts)
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
    served_accuracy, compared = comparison(accuracy, fingerprint, served, tolerance)
    return {
        "model_data": described["ModelArtifacts"]["S3ModelArtifacts"],
        "test_accuracy": accuracy,
        "served_accuracy": served_accuracy,
        "served_version": served.number if isinstance(served, registry.Version) else None,
        "comparison": compared,
        "rules": statuses,
    }


def served_version(endpoint_name: str) -> registry.Version | str:
    """The version the endpoint serves, or NOTHING_SERVED / UNREGISTERED."""
    sagemaker = aws.client("sagemaker")
    with transient_errors():
        model = live_version.served_model(sagemaker, endpoint_name)
        package = live_version.package_of(model)
        if package is None:
            return NOTHING_SERVED if model is None else UNREGISTERED
        return registry.Version.from_described(sagemaker.describe_model_package(ModelPackageName=package))


@step_handler
def lambda_handler(event: dict) -> dict:
    with transient_errors():
        described = aws.client("sagemaker").describe_training_job(TrainingJobName=event["training"]["name"])
    critical = {name.strip() for name in os.environ["CRITICAL_RULES"].split(",") if name.strip()}
    served = served_version(os.environ["ENDPOINT_NAME"])
    try:
        verdict = decide(
            described, float(os.environ["ACCURACY_THRESHOLD"]), critical, event["manifest"]["fingerprint"], served,
            tolerance=float(os.environ["ACCURACY_TOLERANCE"]),
        )  # fmt: skip
    except ModelRejected as rejection:
        logger.warning("model rejected", extra={"reason": str(rejection)})
        metrics.add_metric(name="ModelsRejected", unit="Count", value=1)
        raise
    logger.info("model accepted", extra=verdict)
    return verdict
