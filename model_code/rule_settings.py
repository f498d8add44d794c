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


# Parameters as AWS's rule jobs take them (strings), AWS's documented parameters only: the job's own evaluation
# and the Debugger service's rule jobs get the same. They depend on the run's length (the job's epochs), hence a
# function. Chosen on real training (digits; the runs replayed in tests/model/recorded_losses.json): healthy
# runs of 1 to 40 epochs pass the critical rules; a learning rate of 0, runs diverging over 15 epochs (lr 1, 10)
# and runs trained far past their best epoch on a tiny split are caught. A 4-epoch run at lr 1 that explodes and
# ends at chance shows neither (its loss falls); the gate's AccuracyThreshold refuses it.
def rule_parameters(epochs: int) -> dict[str, dict[str, str]]:
    return {
        # Training loss (what the optimiser lowers; validation rises are Overfit's and Overtraining's business),
        # judged in ONE evaluation, mid-run (num_steps = ceil(epochs / 2)): the epoch where the warm-up + cosine
        # schedule is down to half its peak learning rate at least 10 % below the first epoch, and no epoch in
        # between more than 10 % above the lowest before it (loss_rules.py examines every rise since the
        # previous evaluation). The first half of a cosine run holds 82 % of its learning-rate budget: there a
        # run learns, or blows up. The second half is not judged: the schedule's last epochs train at a few %
        # of the peak (15 epochs: 3 % and 0.5 %) and barely move, a converged run sits on the label-smoothing
        # floor (0.50 for 10 classes, 0.81 for 133), and a loss near 0 (no label smoothing) swings by tens of %.
        # On digits: healthy runs lowered the loss 33-91 % by mid-run and rose at most 3.3 % above their lowest
        # there; a learning rate of 0 moved it 0.5 %; diverging runs rose 77-220 % above it (before collapsing
        # to chance, ln K, below their exploded first epoch: first-against-last alone would pass them). Needs
        # 2 epochs: a 1-epoch run passes, "not enough epochs to judge (needs 2 ...)".
        LOSS_NOT_DECREASING: {
            "collection_names": LOSSES_COLLECTION,
            "use_losses_collection": "True",
            "mode": "TRAIN",
            "num_steps": str(max(1, (epochs + 1) // 2)),
            "diff_percent": "10",
            "increase_threshold_percent": "10",
        },
        # Validation loss more than twice the training loss of its epoch, three evaluations in a row (the first
        # epochs of a network trained from scratch can be far off: BatchNorm statistics still settling).
        # Needs 3 epochs.
        OVERFIT: {"start_step": "0", "patience": "3", "ratio_threshold": "1"},
        # AWS's defaults: no improvement by 0.01 for 5 training or 10 validation epochs (needs 6, resp. 11
        # epochs). By design it also flags a healthy run trained long past its plateau (digits, 40 epochs):
        # fewer epochs would have done; not critical by default.
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
