"""What the loss rules judge, with which parameters, and how their verdicts travel: one definition for the
training job (which evaluates them itself, on every account), the Debugger service's rule jobs (when the
stack asks for them), the local twin, and the quality gate.

The rules follow AWS's documented built-in rules (LossNotDecreasing, Overfit, Overtraining: "List of Debugger
built-in rules" in the SageMaker developer guide); loss_rules.py implements them on smdebug's rule API.
Standard library only: the Lambdas import this module from a layer.
"""

import re

LOSS_NOT_DECREASING = "LossNotDecreasing"
OVERFIT = "Overfit"
OVERTRAINING = "Overtraining"
RULE_NAMES = (LOSS_NOT_DECREASING, OVERFIT, OVERTRAINING)

# The hook saves ONE loss per pass over a split (its per-sample mean, see debugger.LossRecorder), and its
# step is one pass: TRAIN step n is the training of epoch n + 1, EVAL step n the validation after it. The
# step parameters below therefore count epochs, whatever the dataset and batch size. Every step is saved.
LOSSES_COLLECTION = "losses"
LOSS_SAVE_INTERVAL = 1

# Parameters as AWS's rule jobs take them (strings). Chosen on real training (digits, tests/model/
# test_loss_rules.py): a good learning rate passes, a learning rate of 0 and a run trained far past its best
# epoch on a tiny split are caught.
RULE_PARAMETERS = {
    # Training loss (what the optimiser lowers; validation rises are Overfit's and Overtraining's business),
    # every 2 epochs against 2 epochs before: at least 1 % lower, and never 5 % above its lowest. One epoch
    # apart is too close: a healthy run on a plateau moved 0.2 % in an epoch, a flat one (lr 0) +-0.5 %.
    LOSS_NOT_DECREASING: {
        "collection_names": LOSSES_COLLECTION,
        "use_losses_collection": "True",
        "mode": "TRAIN",
        "num_steps": "2",
        "diff_percent": "1",
        "increase_threshold_percent": "5",
    },
    # Validation loss more than twice the training loss of its epoch, three evaluations in a row (the first
    # epochs of a network trained from scratch can be far off: BatchNorm statistics still settling).
    OVERFIT: {"start_step": "0", "patience": "3", "ratio_threshold": "1"},
    # AWS's defaults: no improvement by 0.01 for 5 training or 10 validation epochs.
    OVERTRAINING: {"patience_train": "5", "patience_validation": "10", "delta": "0.01"},
}

# Verdicts, named as DescribeTrainingJob's RuleEvaluationStatus names them.
NO_ISSUES_FOUND = "NoIssuesFound"
ISSUES_FOUND = "IssuesFound"
ERROR = "Error"
VERDICT_CODES = {NO_ISSUES_FOUND: 0, ISSUES_FOUND: 1, ERROR: 2}
VERDICTS_FILE = "debugger_rules.json"  # in the job's output data (output.tar.gz), with the details
LOSS_PLOT = "loss_curves.png"  # the recorded losses drawn, beside the verdicts (`dogbreeds plots` fetches it)


def verdict_metric(rule: str) -> str:
    return f"debugger_rule_{rule}"


# The job prints one line per rule; the training job's MetricDefinitions capture it into FinalMetricDataList.
RULE_METRIC_DEFINITIONS = [
    {"Name": verdict_metric(rule), "Regex": rf"\b{verdict_metric(rule)}=([0-9])"} for rule in RULE_NAMES
]


def format_verdict_line(rule: str, verdict: str, detail: str) -> str:
    """``debugger_rule_Overfit=0 NoIssuesFound: ...``."""
    return f"{verdict_metric(rule)}={VERDICT_CODES[verdict]} {verdict}: {detail}"


def verdict_from_metric(value: float) -> str:
    for verdict, code in VERDICT_CODES.items():
        if code == value:
            return verdict
    return ERROR


def parse_verdict_lines(text: str) -> dict[str, str]:
    """The last verdict of each rule in ``text``, read with the MetricDefinitions' regexes."""
    verdicts = {}
    for rule, definition in zip(RULE_NAMES, RULE_METRIC_DEFINITIONS, strict=True):
        found = re.findall(definition["Regex"], text)
        if found:
            verdicts[rule] = verdict_from_metric(float(found[-1]))
    return verdicts
