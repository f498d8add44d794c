"""What `dogbreeds watch` shows of a run: pure functions of a RunSnapshot, rendered with rich."""

import contextlib
import json
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from dogbreeds_cli.snapshot import RunSnapshot
from dogbreeds_cli.timeline import StateProgress, last_entered, state_progress
from model_code.metrics import EPOCH, METRIC_NAMES, OBJECTIVE_METRIC, OBJECTIVE_TYPE

STATUS_STYLES = {"SUCCEEDED": "green", "FAILED": "bold red", "RUNNING": "yellow", "TIMED_OUT": "red", "ABORTED": "red"}
BEST_MARK = "★"


def metric_values(described: dict) -> dict[str, float]:
    return {metric["MetricName"]: metric["Value"] for metric in described.get("FinalMetricDataList", [])}


def objective(trial: dict) -> float | None:
    final = trial.get("FinalHyperParameterTuningJobObjectiveMetric")
    return final["Value"] if final else metric_values(trial).get(OBJECTIVE_METRIC)


def best_trial(snapshot: RunSnapshot) -> dict | None:
    scored = [trial for trial in snapshot.trials if objective(trial) is not None]
    pick = max if OBJECTIVE_TYPE == "Maximize" else min
    return pick(scored, key=objective, default=None)


def hyperparameter(trial: dict, name: str) -> str:
    return str(trial.get("TunedHyperParameters", {}).get(name, "")).strip('"')


def shown_hyperparameter(value: str) -> str:
    """A tuned value as people read it: ``0.0036549427885857137`` -> ``0.00365``; integers and words as they are."""
    value = str(value).strip('"')
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() and "." not in value else f"{number:.3g}"


def elapsed(snapshot: RunSnapshot) -> float:
    end = snapshot.execution.get("stopDate") or (snapshot.history[-1]["timestamp"] if snapshot.history else None)
    start = snapshot.execution["startDate"]
    return (end - start).total_seconds() if isinstance(end, datetime) else 0.0


def dataset(snapshot: RunSnapshot) -> str:
    found = snapshot.document.get("dataset", {})
    return f"s3://{found['bucket']}/{found['key']}" if "key" in found else "?"


def state_line(state: StateProgress) -> Text:
    loops = f" ({state.visits} visits)" if state.visits > 1 else ""
    return Text.assemble(
        f"{state.name:<24} ",
        (f"{state.status:<10}", STATUS_STYLES.get(state.status, "")),
        f"{state.seconds:7.1f} s{loops}",
    )


def states_table(snapshot: RunSnapshot) -> Table:
    table = Table(title="States, in the order entered", title_justify="left", expand=False)
    table.add_column("state", no_wrap=True)
    table.add_column("status")
    table.add_column("took", justify="right")
    table.add_column("visits", justify="right")
    for state in state_progress(snapshot.history):
        status = Text(state.status, STATUS_STYLES.get(state.status, ""))
        table.add_row(state.name, status, f"{state.seconds:.1f} s", str(state.visits))
    return table


def tuning_table(snapshot: RunSnapshot) -> Group:
    """A line naming the tuning job and its best so far (as wide as the terminal, not the table), then the trials."""
    tuning = snapshot.tuning
    counters = tuning.get("TrainingJobStatusCounters", {})
    limit = tuning["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    best = best_trial(snapshot)
    so_far = " so far" if tuning["HyperParameterTuningJobStatus"] == "InProgress" else ""
    best_text = f"best {OBJECTIVE_METRIC}{so_far} {objective(best):.4f}" if best else "no trial scored yet"
    done = sum(counters.get(status, 0) for status in ("Completed", "NonRetryableError", "RetryableError", "Stopped"))
    title = (
        f"Tuning {tuning['HyperParameterTuningJobName']}: {tuning['HyperParameterTuningJobStatus']}, "
        f"{done}/{limit} trials done, {best_text}"
    )
    table = Table()
    table.add_column("trial", no_wrap=True)  # a name to copy whole: never folded, even in 80 columns
    for column in ("status", "lr", "batch"):
        table.add_column(column)
    table.add_column(OBJECTIVE_METRIC, justify="right")
    for trial in snapshot.trials:
        score = objective(trial)
        table.add_row(
            trial["TrainingJobName"],
            trial["TrainingJobStatus"],
            shown_hyperparameter(hyperparameter(trial, "lr")),
            hyperparameter(trial, "batch-size"),
            "" if score is None else f"{score:.4f}" + (f" {BEST_MARK}" if trial is best else ""),
        )
    return Group(Text(title, style="italic"), table)


def training_line(training: dict) -> Text:
    values = metric_values(training)
    epochs = training.get("HyperParameters", {}).get("epochs", "?").strip('"')
    epoch = f", epoch {int(values[EPOCH])}/{epochs}" if EPOCH in values else ""
    shown = " ".join(f"{name}={values[name]:.4f}" for name in METRIC_NAMES if name in values)
    status = f"{training['TrainingJobStatus']} ({training.get('SecondaryStatus', '?')})"
    rules = rule_results(training)
    return Text(f"Training {training['TrainingJobName']}: {status}{epoch}" + (f"\n  {shown}" if shown else "") + rules)


def rule_results(training: dict) -> str:
    rules = training.get("DebugRuleEvaluationStatuses", [])
    listed = ", ".join(f"{rule['RuleConfigurationName']} {rule.get('RuleEvaluationStatus', '?')}" for rule in rules)
    return f"\n  Debugger rules: {listed}" if listed else ""


def rule_outcome(verdicts: dict[str, str] | str) -> str:
    """The gate's record of one rule, ``{"job": verdict, "service": verdict}`` (who judged it), as words: the
    verdict alone when only the job judged it (older runs recorded that verdict as a plain string)."""
    if isinstance(verdicts, str):
        return verdicts
    if set(verdicts) == {"job"}:
        return verdicts["job"]
    return ", ".join(f"{verdict} ({source})" for source, verdict in sorted(verdicts.items()))


def gate_line(snapshot: RunSnapshot) -> Text | None:
    """The gate's verdict, what it compared the model with, and the rules. Runs from before the registry carry no
    ``comparison`` (their served accuracy is said instead). A refused model leaves no ``$.gate``: the run's failure
    line gives the gate's reason."""
    gate = snapshot.document.get("gate")
    if not gate:
        return None
    served = gate.get("served_accuracy")
    before = "nothing served before" if served is None else f"served model had {served:.4f}"
    rules = ", ".join(f"{name} {rule_outcome(status)}" for name, status in sorted(gate.get("rules", {}).items()))
    rules = rules or "none"
    return Text.assemble(
        "Quality gate: ",
        ("passed", "green"),
        f": test accuracy {gate['test_accuracy']:.4f} ({gate.get('comparison', before)}); rules: {rules}",
    )


# how a succeeded run that registered (or released) a version ended: its Succeed state (statemachine/)
RELEASE_OUTCOMES = {
    "Deployed": "live",
    "AwaitingApproval": "awaits approval (`dogbreeds approve {version}`)",
    "AlreadyLive": "was live already: nothing deployed",
}


def release_line(snapshot: RunSnapshot) -> Text | None:
    """A finished run's model version and what became of it: live, awaiting approval, or not deployed."""
    package = snapshot.document.get("package")
    if not package or not snapshot.finished:
        return None
    ended = last_entered(snapshot.history)
    if snapshot.execution["status"] == "SUCCEEDED" and ended in RELEASE_OUTCOMES:
        outcome, style = RELEASE_OUTCOMES[ended].format(version=package["version"]), "green"
    else:
        outcome, style = f"{package['approval']}, not deployed", "red"
    return Text.assemble(f"Model {package['summary']}: ", (outcome, style))


def endpoint_line(endpoint: dict) -> Text:
    status = endpoint["EndpointStatus"]
    style = "green" if status == "InService" else "red" if status == "Failed" else "yellow"
    return Text.assemble(
        f"Endpoint {endpoint['EndpointName']}: ", (status, style), f" (config {endpoint.get('EndpointConfigName')})"
    )


def failure_cause(snapshot: RunSnapshot) -> str:
    """The cause as the failing step put it (a Lambda's errorMessage), else as Step Functions words it."""
    cause = snapshot.execution.get("cause") or snapshot.document.get("error", {}).get("Cause") or ""
    with contextlib.suppress(ValueError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    error = snapshot.execution.get("error") or snapshot.document.get("error", {}).get("Error") or "error"
    return f"{error}: {cause}" if cause else error


def failure_line(snapshot: RunSnapshot) -> Text | None:
    if snapshot.execution["status"] == "SUCCEEDED" or not snapshot.finished:
        return None
    state = snapshot.document.get("failed_state") or "?"
    return Text.assemble((f"Run {snapshot.execution['status']}", "bold red"), f" in {state}: {failure_cause(snapshot)}")


def header(snapshot: RunSnapshot) -> Text:
    status = snapshot.execution["status"]
    return Text.assemble(
        ("Run ", "bold"),
        (snapshot.execution["name"], "bold"),
        f"  dataset {dataset(snapshot)}  ",
        (status, STATUS_STYLES.get(status, "")),
        f"  {elapsed(snapshot):.1f} s",
    )


def render(snapshot: RunSnapshot) -> Group:
    parts = [header(snapshot), states_table(snapshot)]
    if snapshot.tuning:
        parts.append(tuning_table(snapshot))
    if snapshot.training:
        parts.append(training_line(snapshot.training))
    parts += [line for line in (gate_line(snapshot),) if line is not None]
    if snapshot.endpoint:
        parts.append(endpoint_line(snapshot.endpoint))
    parts += [line for line in (release_line(snapshot), failure_line(snapshot)) if line is not None]
    return Group(*parts)
