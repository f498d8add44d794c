"""LossNotDecreasing, Overfit and Overtraining on smdebug's rule API (``smdebug.rules.Rule``, ``invoke_rule``).

AWS evaluates its built-in rules in a rule-evaluator image that is not in the smdebug wheel, and the Debugger
service is closed to accounts opened since 2026-07-30: these classes follow the parameters and semantics AWS
documents for each rule ("List of Debugger built-in rules"), with the documented defaults, and run
- inside every final training job (train_model.py), whatever the account;
- in the local twin, standing in for the service's rule jobs (local_twin/sagemaker/rules.py).

Where the documentation leaves a choice open it is said below. Steps are smdebug's global steps; a rule reads
the scalar losses of the collections or regexes it is given (the ``losses`` collection by default).
"""

import json
import sys
from pathlib import Path

# isort: off
from model_code.smdebug_compat import open_trial  # first: it sets the protobuf implementation smdebug needs
from smdebug import modes
from smdebug.exceptions import RuleEvaluationConditionMet
from smdebug.rules import Rule, invoke_rule

# isort: on
from model_code.rule_settings import (
    ERROR,
    ISSUES_FOUND,
    LOSSES_COLLECTION,
    NO_ISSUES_FOUND,
    VERDICTS_FILE,
    format_verdict_line,
)


def _as_bool(value) -> bool:
    return str(value).strip().lower() == "true"


def _as_list(value) -> list[str]:
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [part.strip() for part in parts if part.strip()]


class LossRule(Rule):
    """Shared by the three rules: which tensors, and their (mode, mode step, value) at a global step."""

    def __init__(self, base_trial, collection_names=None, tensor_regex=None, use_losses_collection=True):
        super().__init__(base_trial, action_str="")
        names = set()
        collections = _as_list(collection_names)
        if _as_bool(use_losses_collection) and LOSSES_COLLECTION in base_trial.collections():
            collections.append(LOSSES_COLLECTION)
        for collection in collections:
            names.update(base_trial.tensor_names(collection=collection))
        for pattern in _as_list(tensor_regex):
            names.update(base_trial.tensor_names(regex=pattern))
        self.tensor_names = sorted(names)
        self.detail = "no issue found"

    def not_judged(self) -> str | None:
        """None when the rule could find an issue in what was saved; else why not ("not enough epochs to judge
        (needs N ...)"): a run too short for the rule's parameters passes it, and says so."""
        return None

    def saved(self, name: str, step: int):
        """(mode, mode step, value) of tensor ``name`` at global ``step``, or None when not saved there."""
        tensor = self.base_trial.tensor(name)
        if step not in tensor.steps():
            return None
        mode, mode_step = self.base_trial.mode_modestep(step)
        value = tensor.value(step)
        if value.size != 1:
            return None  # the rules read scalar losses only
        return mode, mode_step, float(value.reshape(-1)[0])

    def issue(self, detail: str) -> bool:
        self.detail = detail
        return True


class LossNotDecreasing(LossRule):
    """Every ``num_steps`` (of ``mode``), the loss must be ``diff_percent`` % lower than the newest loss saved
    at least ``num_steps`` earlier. Documented, its ``increase_threshold_percent`` is "the maximum threshold
    percent that loss is allowed to increase in case loss has been increasing": here, at each evaluation, no loss
    saved since the previous evaluation may have risen more than that above the lowest saved before it (a loss
    that blew up between two evaluations is an issue even when it has come down again by the next).
    ``mode`` unset: EVAL, else TRAIN, else GLOBAL, as documented."""

    def __init__(
        self,
        base_trial,
        collection_names=None,
        tensor_regex=None,
        use_losses_collection=True,
        num_steps=10,
        diff_percent=0.1,
        increase_threshold_percent=5,
        mode=None,
    ):
        super().__init__(base_trial, collection_names, tensor_regex, use_losses_collection)
        self.num_steps = int(num_steps)
        self.diff_percent = float(diff_percent)
        self.increase_threshold_percent = float(increase_threshold_percent)
        self.mode = modes[mode.upper()] if mode else self._first_mode_with_steps()
        self.last_checked: dict[str, int] = {}
        self.examined: dict[str, int] = {}  # the newest step whose rise has been examined, per tensor

    def not_judged(self) -> str | None:
        if self.last_checked:
            return None
        unit = "epochs (training passes)" if self.mode == modes.TRAIN else f"saved {self.mode.name} losses"
        return f"not enough epochs to judge (needs {self.num_steps + 1} {unit}: num_steps={self.num_steps})"

    def _rise(self, values: dict[int, float], after: int) -> tuple[int, float] | None:
        """The first step after ``after`` whose loss is more than increase_threshold_percent above the lowest
        saved before it, with that lowest; None when there is none."""
        lowest, allowed = None, 1 + self.increase_threshold_percent / 100
        for step in sorted(values):
            if lowest is not None and step > after and values[step] > lowest * allowed:
                return step, lowest
            lowest = values[step] if lowest is None else min(lowest, values[step])
        return None

    def _first_mode_with_steps(self):
        for mode in (modes.EVAL, modes.TRAIN):
            if self.base_trial.steps(mode=mode):
                return mode
        return modes.GLOBAL

    def invoke_at_step(self, step):
        for name in self.tensor_names:
            saved = self.saved(name, step)
            if saved is None or (self.mode != modes.GLOBAL and saved[0] != self.mode):
                continue
            current = saved[1] if self.mode != modes.GLOBAL else step
            if name in self.last_checked and current < self.last_checked[name] + self.num_steps:
                continue
            tensor = self.base_trial.tensor(name)
            earlier = [s for s in tensor.steps(mode=self.mode) if s <= current - self.num_steps]
            if not earlier:
                continue
            self.last_checked[name] = current
            values = {s: float(tensor.value(s, mode=self.mode)) for s in tensor.steps(mode=self.mode) if s <= current}
            rise = self._rise(values, after=self.examined.get(name, -1))
            self.examined[name] = current
            if rise:
                rising, lowest = rise
                return self.issue(
                    f"{name} {self.mode.name} step {rising}: {values[rising]:.4g}, more than "
                    f"{self.increase_threshold_percent:g} % above its lowest {lowest:.4g} before it"
                )
            loss, before = values[current], values[earlier[-1]]
            if loss > before * (1 - self.diff_percent / 100):
                return self.issue(
                    f"{name} {self.mode.name} step {current}: {loss:.4g}, not {self.diff_percent:g} % below "
                    f"{before:.4g} at step {earlier[-1]}"
                )
        return False


class Overfit(LossRule):
    """At each validation (EVAL) loss from ``start_step`` on: (mean validation loss - mean training loss) / mean
    training loss, the means taken over the losses of the validation pass and of the training pass before it;
    above ``ratio_threshold`` for ``patience`` evaluations in a row: overfit."""

    def __init__(self, base_trial, tensor_regex=None, start_step=0, patience=1, ratio_threshold=0.1):
        super().__init__(base_trial, tensor_regex=tensor_regex)
        self.start_step = int(start_step)
        self.patience = int(patience)
        self.ratio_threshold = float(ratio_threshold)
        self.exceeded: dict[str, int] = {}
        self.compared: dict[str, int] = {}

    def not_judged(self) -> str | None:
        if self.compared and max(self.compared.values()) >= self.patience:
            return None
        return (
            f"not enough epochs to judge (needs {self.patience} validations from step {self.start_step}: "
            f"patience={self.patience})"
        )

    def _pass_means(self, name: str, step: int) -> tuple[float, float] | None:
        """Mean of the EVAL losses in the run of EVAL steps ending at ``step``, and of the TRAIN run before it."""
        runs: dict = {modes.EVAL: [], modes.TRAIN: []}
        for earlier in sorted((s for s in self.base_trial.tensor(name).steps() if s <= step), reverse=True):
            mode, _, value = self.saved(name, earlier)
            if mode == modes.EVAL and not runs[modes.TRAIN]:
                runs[modes.EVAL].append(value)
            elif mode == modes.TRAIN:
                runs[modes.TRAIN].append(value)
            else:
                break
        if not runs[modes.TRAIN]:
            return None
        return sum(runs[modes.EVAL]) / len(runs[modes.EVAL]), sum(runs[modes.TRAIN]) / len(runs[modes.TRAIN])

    def invoke_at_step(self, step):
        if step < self.start_step:
            return False
        for name in self.tensor_names:
            saved = self.saved(name, step)
            if saved is None or saved[0] != modes.EVAL:
                continue
            means = self._pass_means(name, step)
            if means is None or means[1] <= 0:
                continue
            validation, training = means
            self.compared[name] = self.compared.get(name, 0) + 1
            ratio = (validation - training) / training
            self.exceeded[name] = self.exceeded.get(name, 0) + 1 if ratio > self.ratio_threshold else 0
            if self.exceeded[name] >= self.patience:
                return self.issue(
                    f"{name} step {step}: validation {validation:.4g} vs training {training:.4g}, ratio "
                    f"{ratio:.3g} > {self.ratio_threshold:g} for {self.exceeded[name]} evaluation(s) in a row"
                )
        return False


class Overtraining(LossRule):
    """The training loss has not improved by ``delta`` on its best for ``patience_train`` saved losses, or the
    validation loss for ``patience_validation``: training goes on without getting better."""

    def __init__(self, base_trial, patience_train=5, patience_validation=10, delta=0.01):
        super().__init__(base_trial)
        self.patience = {modes.TRAIN: int(patience_train), modes.EVAL: int(patience_validation)}
        self.delta = float(delta)
        self.best: dict = {}
        self.waited: dict = {}
        self.seen: dict = {}

    def not_judged(self) -> str | None:
        unjudged = [
            f"{'training' if mode == modes.TRAIN else 'validation'} loss: needs {patience + 1} epochs "
            f"(patience_{'train' if mode == modes.TRAIN else 'validation'}={patience})"
            for mode, patience in self.patience.items()
            if max((count for (_, seen_mode), count in self.seen.items() if seen_mode == mode), default=0) <= patience
        ]
        if len(unjudged) == len(self.patience):
            return f"not enough epochs to judge ({'; '.join(unjudged)})"
        return f"not judged: {unjudged[0]}" if unjudged else None

    def invoke_at_step(self, step):
        for name in self.tensor_names:
            saved = self.saved(name, step)
            if saved is None or saved[0] not in self.patience:
                continue
            mode, mode_step, loss = saved
            key = (name, mode)
            self.seen[key] = self.seen.get(key, 0) + 1
            if key not in self.best or loss < self.best[key] - self.delta:
                self.best[key], self.waited[key] = loss, 0
                continue
            self.waited[key] += 1
            if self.waited[key] >= self.patience[mode]:
                return self.issue(
                    f"{name} {mode.name} step {mode_step}: no improvement by {self.delta:g} on "
                    f"{self.best[key]:.4g} for {self.waited[key]} losses"
                )
        return False


RULES = {rule.__name__: rule for rule in (LossNotDecreasing, Overfit, Overtraining)}


def evaluate_rule(trial, rule_name: str, parameters: dict) -> tuple[str, str]:
    """(verdict, detail) of one rule over the whole trial; ``parameters`` as a DebugRuleConfiguration's."""
    arguments = {key: value for key, value in parameters.items() if key != "rule_to_invoke"}
    try:
        rule = RULES[rule_name](trial, **arguments)
    except (KeyError, TypeError, ValueError) as error:
        return ERROR, f"cannot evaluate {rule_name} with {arguments}: {type(error).__name__}: {error}"
    if not rule.tensor_names:
        return ERROR, "the trial holds no losses to evaluate"
    steps = trial.steps()
    try:
        invoke_rule(rule, start_step=0, end_step=steps[-1] + 1 if steps else 0, raise_eval_cond=True)
    except RuleEvaluationConditionMet:
        return ISSUES_FOUND, rule.detail
    not_judged = rule.not_judged()
    if not_judged and not_judged.startswith("not enough"):
        return NO_ISSUES_FOUND, not_judged  # as AWS's rule job: a rule that could not fire found no issue
    return NO_ISSUES_FOUND, f"{rule.detail} in {len(steps)} saved steps" + (f" ({not_judged})" if not_judged else "")


def evaluate_rules(out_dir: str, rules: dict[str, dict]) -> dict[str, dict]:
    """``{name: {"verdict": ..., "detail": ..., "parameters": ...}}`` for each rule over the trial in ``out_dir``
    (the rule is the parameters' ``rule_to_invoke``, as in a DebugRuleConfiguration, else the name)."""
    trial = open_trial(out_dir)
    verdicts = {}
    for name, parameters in rules.items():
        rule = parameters.get("rule_to_invoke", name)
        verdict, detail = evaluate_rule(trial, rule, parameters) if trial else (ERROR, "no Debugger trial recorded")
        verdicts[name] = {"verdict": verdict, "detail": detail, "parameters": parameters}
    return verdicts


def report(verdicts: dict[str, dict], output_data_dir: Path) -> Path:
    """One metric line per rule (the job's MetricDefinitions read them) and the verdicts as JSON."""
    for name, verdict in verdicts.items():
        print(format_verdict_line(name, verdict["verdict"], verdict["detail"]), flush=True)
    path = output_data_dir / VERDICTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdicts, indent=1, sort_keys=True))
    return path


def main(argv: list[str]) -> None:
    """``python -m model_code.loss_rules TRIAL_DIR '{"Overfit": {...parameters}}'``: the verdicts as JSON on stdout (the
    local twin runs its rule jobs this way, a process apart, as AWS runs a rule container)."""
    print(json.dumps(evaluate_rules(argv[0], json.loads(argv[1]))))


if __name__ == "__main__":
    main(sys.argv[1:])
