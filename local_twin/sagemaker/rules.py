"""The Debugger service's rule jobs, for training jobs that ask for them (DebugRuleConfigurations).

AWS runs each built-in rule in its rule-evaluator container over the job's uploaded trial. The twin runs the
SAME rule classes the training job evaluates itself (model_code/loss_rules.py: LossNotDecreasing, Overfit,
Overtraining on smdebug's rule API, following AWS's documented semantics), one process apart as AWS's rule
container is, with the parameters of the request. Other rules (ProfilerReport, ...) need AWS's containers:
reported as ``Error``, "not evaluated".
"""

import json
import subprocess
from pathlib import Path

from local_twin.sagemaker.errors import now

RULE_PROGRAM = "model_code.loss_rules"  # run with -m, by the jobs' Python
EVALUATED = ("LossNotDecreasing", "Overfit", "Overtraining")


def _status(configuration: dict, kind: str, verdict: str, detail: str, arn: str) -> dict:
    return {
        "kind": kind,
        "RuleConfigurationName": configuration["RuleConfigurationName"],
        "RuleEvaluationJobArn": arn,
        "RuleEvaluationStatus": verdict,
        "StatusDetails": detail,
        "LastModifiedTime": now(),
    }


def _run_rule_jobs(python: str, tensors: Path, rules: dict[str, dict]) -> dict[str, dict]:
    if not rules:
        return {}
    if not tensors.is_dir():
        return {name: {"verdict": "Error", "detail": "the trial holds no losses to evaluate"} for name in rules}
    completed = subprocess.run(
        [python, "-m", RULE_PROGRAM, str(tensors), json.dumps(rules)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        failure = " ".join(completed.stderr.split())[-400:]
        return {name: {"verdict": "Error", "detail": f"rule job failed: {failure}"} for name in rules}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def evaluate(request: dict, tensors: Path, python: str) -> list[dict]:
    arn = f"local-rule-evaluation/{request['TrainingJobName']}"
    configurations = request.get("DebugRuleConfigurations", [])

    def rule_of(configuration: dict) -> str:
        return configuration.get("RuleParameters", {}).get("rule_to_invoke", configuration["RuleConfigurationName"])

    evaluated = {
        configuration["RuleConfigurationName"]: configuration.get("RuleParameters", {})
        for configuration in configurations
        if rule_of(configuration) in EVALUATED
    }
    verdicts = _run_rule_jobs(python, tensors, evaluated)
    statuses = []
    for configuration in configurations:
        verdict = verdicts.get(configuration["RuleConfigurationName"])
        if verdict is None:
            detail = f"{rule_of(configuration)} is not evaluated by the local twin"
            statuses.append(_status(configuration, "debug", "Error", detail, arn))
        else:
            statuses.append(_status(configuration, "debug", verdict["verdict"], verdict["detail"], arn))
    for configuration in request.get("ProfilerRuleConfigurations", []):
        detail = "not evaluated: the profiler rules need AWS's rule-evaluator container"
        statuses.append(_status(configuration, "profiler", "Error", detail, arn))
    return statuses
