"""The built-in Debugger rules the pipeline requests, evaluated on the job's smdebug trial.

AWS runs these rules in its rule-evaluator container, which is not in the smdebug wheel. Here the losses
are read back through smdebug's trial API and the rules are re-implemented from AWS's documented
parameters and semantics (defaults as documented); they are approximations, said so in StatusDetails.
Rules that need AWS's containers (ProfilerReport, anything else) are reported as not evaluated.
"""

from pathlib import Path
from statistics import mean

from local_twin.sagemaker.service import now


def _losses(tensors: Path) -> dict[str, list[float]]:
    from model_code.debugger import read_losses

    return {mode: values for mode, (_, values) in read_losses(str(tensors)).items()}


def loss_not_decreasing(losses: dict, parameters: dict) -> bool:
    """Mean TRAIN loss over windows of ``num_steps``: issue when a window rises more than
    ``increase_threshold_percent`` above the best window, or the last window is not ``diff_percent`` lower
    than the first."""
    num_steps = int(parameters.get("num_steps", 10))
    diff_percent = float(parameters.get("diff_percent", 0.0))
    increase = float(parameters.get("increase_threshold_percent", 5.0))
    train = losses.get("TRAIN", [])
    windows = [mean(train[i : i + num_steps]) for i in range(0, len(train) - num_steps + 1, num_steps)]
    if len(windows) < 2:
        return False
    best = windows[0]
    for window in windows[1:]:
        if window > best * (1 + increase / 100):
            return True
        best = min(best, window)
    return windows[-1] > windows[0] * (1 - diff_percent / 100)


def overfit(losses: dict, parameters: dict) -> bool:
    """Validation loss more than ``ratio_threshold`` above training loss (trailing means)."""
    threshold = float(parameters.get("ratio_threshold", 0.1))
    train, valid = losses.get("TRAIN", []), losses.get("EVAL", [])
    if not train or not valid:
        return False
    window = max(1, min(len(train), len(valid), 10))
    train_loss, valid_loss = mean(train[-window:]), mean(valid[-window:])
    return train_loss > 0 and (valid_loss - train_loss) / train_loss > threshold


def overtraining(losses: dict, parameters: dict) -> bool:
    """Training AND validation loss stopped improving by ``delta`` over their patience windows."""
    delta = float(parameters.get("delta", 0.01))

    def plateaued(values: list[float], patience: int) -> bool:
        if len(values) <= patience:
            return False
        return min(values[-patience:]) > min(values[:-patience]) - delta

    return plateaued(losses.get("TRAIN", []), int(parameters.get("patience_train", 5))) and plateaued(
        losses.get("EVAL", []), int(parameters.get("patience_validation", 10))
    )


EVALUATORS = {"LossNotDecreasing": loss_not_decreasing, "Overfit": overfit, "Overtraining": overtraining}


def _status(configuration: dict, kind: str, verdict: str, detail: str, arn: str) -> dict:
    return {
        "kind": kind,
        "RuleConfigurationName": configuration["RuleConfigurationName"],
        "RuleEvaluationJobArn": arn,
        "RuleEvaluationStatus": verdict,
        "StatusDetails": detail,
        "LastModifiedTime": now(),
    }


def evaluate(request: dict, tensors: Path) -> list[dict]:
    arn = f"local-rule-evaluation/{request['TrainingJobName']}"
    statuses = []
    rules = request.get("DebugRuleConfigurations", [])
    losses = _losses(tensors) if rules and tensors.is_dir() else {}
    for configuration in rules:
        name = configuration.get("RuleParameters", {}).get("rule_to_invoke", configuration["RuleConfigurationName"])
        evaluator = EVALUATORS.get(name)
        if evaluator is None:
            statuses.append(_status(configuration, "debug", "Error", f"{name} is not evaluated by the local twin", arn))
        elif not losses:
            statuses.append(_status(configuration, "debug", "Error", "the trial holds no losses to evaluate", arn))
        else:
            issues = evaluator(losses, configuration.get("RuleParameters", {}))
            detail = (
                f"evaluated locally on {sum(map(len, losses.values()))} recorded losses (approximation of AWS's rule)"
            )
            statuses.append(_status(configuration, "debug", "IssuesFound" if issues else "NoIssuesFound", detail, arn))
    for configuration in request.get("ProfilerRuleConfigurations", []):
        detail = "not evaluated: the profiler rules need AWS's rule-evaluator container"
        statuses.append(_status(configuration, "profiler", "Error", detail, arn))
    return statuses
