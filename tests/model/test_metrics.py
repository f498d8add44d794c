"""The metric lines and the regexes SageMaker reads them with: one definition for both."""

import re

import pytest

from model_code import metrics


def test_line_round_trips_through_the_sagemaker_regexes():
    line = metrics.format_metric_line(3, train_loss=0.81, valid_loss=0.64, valid_accuracy=0.812)
    assert line == "epoch=3 train_loss=0.8100 valid_loss=0.6400 valid_accuracy=0.8120"
    assert metrics.parse_metric_lines(line) == {
        "train_loss": [0.81],
        "valid_loss": [0.64],
        "valid_accuracy": [0.812],
        "epoch": [3.0],
    }


def test_each_regex_captures_only_its_own_metric():
    line = metrics.format_metric_line(test_loss=1.5, test_accuracy=0.5)
    for definition in metrics.METRIC_DEFINITIONS:
        found = re.findall(definition["Regex"], line)
        assert found == ({"test_loss": ["1.5000"], "test_accuracy": ["0.5000"]}.get(definition["Name"], []))


def test_definitions_are_what_the_tuning_job_needs():
    names = [d["Name"] for d in metrics.METRIC_DEFINITIONS]
    assert metrics.OBJECTIVE_METRIC == "valid_accuracy" and metrics.OBJECTIVE_METRIC in names
    assert metrics.OBJECTIVE_TYPE == "Maximize"
    for definition in metrics.METRIC_DEFINITIONS:  # SageMaker: Regex length 1-500, one capture group
        assert 1 <= len(definition["Regex"]) <= 500 and re.compile(definition["Regex"]).groups == 1


def test_unknown_metric_names_are_refused():
    with pytest.raises(ValueError, match="unknown metric names"):
        metrics.format_metric_line(valid_acc=0.5)
