"""The metric lines the training scripts print and the regexes SageMaker reads them with.

One definition for both sides: the scripts format their lines here, the pipeline imports
METRIC_DEFINITIONS for the tuning and training jobs, and the tests parse printed lines with these
same regexes. Standard library only: the Lambdas import this module from a layer.
"""

import re

TRAIN_LOSS = "train_loss"
VALID_LOSS = "valid_loss"
VALID_ACCURACY = "valid_accuracy"
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"
METRIC_NAMES = (TRAIN_LOSS, VALID_LOSS, VALID_ACCURACY, TEST_LOSS, TEST_ACCURACY)

# The tuning job maximises accuracy on the VALIDATION split; the test split is only reported.
OBJECTIVE_METRIC = VALID_ACCURACY
OBJECTIVE_TYPE = "Maximize"

# A plain decimal (optionally with exponent): SageMaker's regex engine and Python's agree on it.
_NUMBER = r"([0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?)"

METRIC_DEFINITIONS = [{"Name": name, "Regex": rf"\b{name}={_NUMBER}"} for name in METRIC_NAMES]
# Not a quality metric: it tells a watcher (`dogbreeds watch`) which epoch a running job has finished.
EPOCH = "epoch"
METRIC_DEFINITIONS.append({"Name": EPOCH, "Regex": rf"\b{EPOCH}=([0-9]+)\b"})


def format_metric_line(epoch: int | None = None, **values: float) -> str:
    """``epoch=3 train_loss=0.8100 valid_loss=0.6400 valid_accuracy=0.8120``."""
    unknown = set(values) - set(METRIC_NAMES)
    if unknown:
        raise ValueError(f"unknown metric names: {sorted(unknown)}")
    fields = [] if epoch is None else [f"epoch={epoch}"]
    fields += [f"{name}={values[name]:.4f}" for name in METRIC_NAMES if name in values]
    return " ".join(fields)


def parse_metric_lines(text: str) -> dict[str, list[float]]:
    """Every value of every metric in ``text``, in order, read with the SageMaker regexes."""
    found: dict[str, list[float]] = {}
    for definition in METRIC_DEFINITIONS:
        values = [float(match) for match in re.findall(definition["Regex"], text)]
        if values:
            found[definition["Name"]] = values
    return found
