"""What a completed training job reports, read from DescribeTrainingJob: its final metrics and its Debugger rules'
verdicts (the quality gate judges by them, Register records them)."""

from model_code.rule_settings import RULE_NAMES, verdict_from_metric, verdict_metric


def final_metric(described: dict, name: str) -> float | None:
    for metric in described.get("FinalMetricDataList", []):
        if metric["MetricName"] == name:
            return float(metric["Value"])
    return None


def rule_verdicts(described: dict) -> dict[str, dict[str, dict]]:
    """``{rule: {"job": evaluation, "service": evaluation}}``, each evaluation shaped as DescribeTrainingJob's
    DebugRuleEvaluationStatuses items; a source that did not judge the rule is absent. A rule's verdicts come from
    the training job itself (its metric lines, in FinalMetricDataList: every account) and, when the stack asks for
    the Debugger service, from the service's rule job (DebugRuleEvaluationStatuses)."""
    verdicts: dict[str, dict[str, dict]] = {}
    for rule in RULE_NAMES:
        value = final_metric(described, verdict_metric(rule))
        if value is not None:
            verdicts.setdefault(rule, {})["job"] = {"RuleEvaluationStatus": verdict_from_metric(value)}
    for evaluation in described.get("DebugRuleEvaluationStatuses", []):
        verdicts.setdefault(evaluation["RuleConfigurationName"], {})["service"] = evaluation
    return verdicts


def rule_statuses(verdicts: dict[str, dict[str, dict]]) -> dict[str, dict[str, str]]:
    """``{rule: {source: RuleEvaluationStatus}}``."""
    return {
        name: {source: evaluation.get("RuleEvaluationStatus", "Unknown") for source, evaluation in sources.items()}
        for name, sources in verdicts.items()
    }
