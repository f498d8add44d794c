"""The loss rules (model_code/loss_rules.py) on smdebug trials.

Fast: trials recorded by the real LossRecorder from scripted per-pass losses, one per documented behaviour.
Slow: real training on the handwritten digits, as the issue asks: a good learning rate passes every rule, a
learning rate of 0 is flagged LossNotDecreasing, a run trained far past its best epoch on a tiny split is
flagged Overfit and Overtraining.
"""

import json
import shutil
import sys

import pytest
import torch
from torch import nn

from model_code import debugger, loss_rules, smdebug_compat, train_model
from model_code.rule_settings import (
    ERROR,
    ISSUES_FOUND,
    LOSS_NOT_DECREASING,
    NO_ISSUES_FOUND,
    OVERFIT,
    OVERTRAINING,
    RULE_METRIC_DEFINITIONS,
    RULE_PARAMETERS,
    VERDICTS_FILE,
    format_verdict_line,
    parse_verdict_lines,
)
from tests.conftest import DIGITS_TRAINING_ARGS


class ScriptedLoss(nn.Module):
    """A criterion whose value is set from outside: each pass's mean is exactly the scripted loss."""

    value = 1.0

    def forward(self, outputs, targets):
        return outputs.sum() * 0 + self.value


def record(out_dir, epochs: list[tuple[float, float]], batches: int = 3):
    """One TRAIN pass and one EVAL pass per (train loss, validation loss), through the real recorder."""
    model, criterion = nn.Linear(2, 2), ScriptedLoss()
    recorder = debugger.create_loss_recorder(str(out_dir), model, criterion)
    for train, valid in epochs:
        for phase, loss in (("train", train), ("eval", valid)):
            recorder.set_phase(phase)
            criterion.value = loss
            for _ in range(batches):
                criterion(model(torch.ones(4, 2)), torch.zeros(4, dtype=torch.long))
    recorder.close()
    return str(out_dir)


def verdicts(out_dir) -> dict[str, str]:
    return {name: result["verdict"] for name, result in loss_rules.evaluate_rules(out_dir).items()}


HEALTHY = [(2.3, 2.2), (1.2, 1.0), (0.6, 0.5), (0.4, 0.35), (0.3, 0.3), (0.25, 0.28)]


def test_the_recorder_saves_one_mean_loss_per_pass(tmp_path):
    out_dir = record(tmp_path / "t", [(2.0, 1.5), (1.0, 0.8)])
    curves = debugger.read_losses(out_dir)
    assert curves["TRAIN"] == ([0, 1], pytest.approx([2.0, 1.0]))  # a step per pass, whatever its batches
    assert curves["EVAL"] == ([0, 1], pytest.approx([1.5, 0.8]))


def test_a_healthy_curve_passes_every_rule(tmp_path):
    assert verdicts(record(tmp_path / "t", HEALTHY)) == dict.fromkeys(RULE_PARAMETERS, NO_ISSUES_FOUND)


def test_loss_not_decreasing_compares_every_other_epoch_with_two_epochs_before(tmp_path):
    plateau = [(2.3, 2.2), (1.2, 1.0), (1.0, 0.9), (1.001, 0.9), (0.8, 0.8)]  # epoch 4 up 0.1 %: not judged
    assert verdicts(record(tmp_path / "plateau", plateau))[LOSS_NOT_DECREASING] == NO_ISSUES_FOUND
    stalled = [(2.3, 2.2), (1.2, 1.0), (2.28, 1.0)]  # epoch 3 is 0.9 % lower than epoch 1: under 1 %
    result = loss_rules.evaluate_rules(record(tmp_path / "stalled", stalled))[LOSS_NOT_DECREASING]
    assert result["verdict"] == ISSUES_FOUND
    assert "TRAIN step 2: 2.28, not 1 % below 2.3 at step 0" in result["detail"]


def test_loss_not_decreasing_flags_a_rise_above_the_lowest_loss(tmp_path):
    trial = smdebug_compat.open_trial(record(tmp_path / "t", [(2.0, 2.0), (0.5, 1.0), (1.0, 0.5)]))
    verdict, detail = loss_rules.evaluate_rule(trial, LOSS_NOT_DECREASING, RULE_PARAMETERS[LOSS_NOT_DECREASING])
    assert verdict == ISSUES_FOUND and "step 2: 1, more than 5 % above its lowest 0.5" in detail  # 2.0 -> 1.0


def test_overfit_needs_its_patience_in_a_row(tmp_path):
    settling = [(2.3, 30.0), (1.2, 3.0), (0.6, 0.5), (0.4, 1.0)]  # first validations far off, then fine
    assert verdicts(record(tmp_path / "settling", settling))[OVERFIT] == NO_ISSUES_FOUND
    overfitting = [(1.0, 0.9), (0.3, 0.8), (0.1, 0.9), (0.05, 1.0)]  # validation 2.7x, 9x, 20x the training loss
    result = loss_rules.evaluate_rules(record(tmp_path / "over", overfitting))[OVERFIT]
    assert result["verdict"] == ISSUES_FOUND and "for 3 evaluation(s) in a row" in result["detail"]


def test_overtraining_flags_a_training_loss_that_stopped_improving(tmp_path):
    plateau = [(0.5, 0.5)] + [(0.3 - i * 0.001, 0.4 - i * 0.05) for i in range(6)]
    result = loss_rules.evaluate_rules(record(tmp_path / "t", plateau))[OVERTRAINING]
    assert result["verdict"] == ISSUES_FOUND and "TRAIN" in result["detail"] and "for 5 losses" in result["detail"]


def test_no_trial_or_unknown_parameters_are_errors(tmp_path):
    assert verdicts(tmp_path) == dict.fromkeys(RULE_PARAMETERS, ERROR)
    trial = smdebug_compat.open_trial(record(tmp_path / "t", HEALTHY))
    verdict, detail = loss_rules.evaluate_rule(trial, OVERFIT, {"no_such_parameter": "1"})
    assert verdict == ERROR and "no_such_parameter" in detail


def test_verdict_lines_are_read_back_with_the_metric_definitions():
    lines = "\n".join(format_verdict_line(rule, verdict, "why") for rule, verdict in zip(
        (LOSS_NOT_DECREASING, OVERFIT, OVERTRAINING), (NO_ISSUES_FOUND, ISSUES_FOUND, ERROR), strict=True
    ))  # fmt: skip
    assert parse_verdict_lines(lines) == {
        LOSS_NOT_DECREASING: NO_ISSUES_FOUND,
        OVERFIT: ISSUES_FOUND,
        OVERTRAINING: ERROR,
    }
    assert [definition["Name"] for definition in RULE_METRIC_DEFINITIONS] == [
        "debugger_rule_LossNotDecreasing", "debugger_rule_Overfit", "debugger_rule_Overtraining"
    ]  # fmt: skip


def test_without_a_hook_every_rule_is_reported_as_an_error(tmp_path, capsys):
    debugger.judge_losses(None, tmp_path)
    assert parse_verdict_lines(capsys.readouterr().out) == dict.fromkeys(RULE_PARAMETERS, ERROR)


def test_the_twin_runs_the_same_rules_as_a_rule_job(tmp_path):
    """local_twin/sagemaker/rules.py: a process apart, with the request's parameters."""
    from local_twin.sagemaker import rules

    out_dir = record(tmp_path / "t", HEALTHY)
    request = {
        "TrainingJobName": "job",
        "DebugRuleConfigurations": [
            {"RuleConfigurationName": name, "RuleParameters": {"rule_to_invoke": name, **parameters}}
            for name, parameters in RULE_PARAMETERS.items()
        ]
        + [{"RuleConfigurationName": "VanishingGradient", "RuleParameters": {"rule_to_invoke": "VanishingGradient"}}],
    }
    statuses = {s["RuleConfigurationName"]: s for s in rules.evaluate(request, tmp_path / "t", sys.executable)}
    assert {name: statuses[name]["RuleEvaluationStatus"] for name in RULE_PARAMETERS} == dict.fromkeys(
        RULE_PARAMETERS, NO_ISSUES_FOUND
    )
    assert statuses["VanishingGradient"]["RuleEvaluationStatus"] == "Error"
    assert out_dir


# ---------------------------------------------------------------------------------------------- real training


def train(root, tmp_path, *extra: str) -> tuple[dict, str]:
    """train_model.py on the digits; (the verdicts file, the job's printed output)."""
    output = tmp_path / "output"
    train_model.main(
        [*DIGITS_TRAINING_ARGS, *extra, "--data-dir", str(root), "--model-dir", str(tmp_path / "model"),
         "--output-data-dir", str(output)]
    )  # fmt: skip
    return json.loads((output / VERDICTS_FILE).read_text())


@pytest.mark.slow
def test_a_good_learning_rate_passes_every_rule(trained_digits_model, capsys):
    """The shared digits model (lr 0.003, 4 epochs): its job printed the verdicts and wrote them down."""
    judged = json.loads((trained_digits_model.parent / "output" / VERDICTS_FILE).read_text())
    assert {name: result["verdict"] for name, result in judged.items()} == dict.fromkeys(
        RULE_PARAMETERS, NO_ISSUES_FOUND
    ), judged


@pytest.mark.slow
def test_a_learning_rate_of_zero_is_flagged_loss_not_decreasing(digits_dataset, tmp_path, capsys):
    root, _ = digits_dataset
    judged = train(root, tmp_path, "--lr", "0", "--epochs", "3")
    assert judged[LOSS_NOT_DECREASING]["verdict"] == ISSUES_FOUND, judged
    assert parse_verdict_lines(capsys.readouterr().out)[LOSS_NOT_DECREASING] == ISSUES_FOUND


@pytest.mark.slow
def test_training_far_past_the_best_epoch_on_a_tiny_split_is_flagged(digits_dataset, tmp_path):
    root, _ = digits_dataset
    tiny = tmp_path / "tiny"
    shutil.copytree(root / "valid", tiny / "valid")
    shutil.copytree(root / "test", tiny / "test")
    for folder in sorted((root / "train").iterdir()):
        for image in sorted(folder.iterdir())[:5]:  # 5 images a class
            (tiny / "train" / folder.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(image, tiny / "train" / folder.name / image.name)
    judged = train(tiny, tmp_path, "--epochs", "20", "--batch-size", "16", "--crop-scale-min", "1")
    assert judged[OVERFIT]["verdict"] == ISSUES_FOUND, judged
    assert judged[OVERTRAINING]["verdict"] == ISSUES_FOUND, judged
