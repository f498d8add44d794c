"""The monitoring baseline a model carries (its answers on the test split) and the drift figure a window of live
answers is judged by (model_code/monitoring.py)."""

import json
import math

import pytest

from model_code import dogbreeds, inference, monitoring, train_model
from tests.support.digits import COLOUR_ARGS


def test_the_exported_model_carries_what_it_answered_on_the_test_split(colour_dataset, tmp_path):
    model_dir = tmp_path / "model"
    train_model.main(
        [*COLOUR_ARGS, "--epochs", "3", "--data-dir", str(colour_dataset), "--model-dir", str(model_dir),
         "--output-data-dir", str(tmp_path / "output"), "--debug-out-dir", str(tmp_path / "tensors")]
    )  # fmt: skip
    metadata = json.loads((model_dir / "metadata.json").read_text())
    baseline = metadata["baseline"]
    test_split = dogbreeds.discover_dataset(colour_dataset)["test"]
    assert baseline["split"] == "test" and baseline["samples"] == len(test_split.samples)
    assert sum(baseline["confidence_histogram"]) == baseline["samples"]

    # the same answers, one image at a time through the endpoint's code
    predictor = inference.model_fn(str(model_dir))
    labels, bins = {label: 0 for label in predictor.classes}, [0] * monitoring.CONFIDENCE_BINS
    for path, _ in test_split.samples:
        request = inference.input_fn(path.read_bytes(), "image/jpeg")
        (top, *_) = inference.predict_fn(request, predictor)["predictions"]
        labels[top["label"]] += 1
        bins[monitoring.confidence_bin(top["probability"])] += 1
    assert baseline["predicted_classes"] == labels
    # float32 batches and single images may round a probability across a bin's edge: a sample at most
    assert sum(abs(a - b) for a, b in zip(baseline["confidence_histogram"], bins, strict=True)) <= 2


def test_the_same_population_is_stable_and_a_one_class_stream_a_major_shift():
    balanced = [40, 30, 30]
    assert monitoring.population_stability_index(balanced, [80, 60, 60]) == pytest.approx(0.0)
    assert monitoring.drift_verdict(0.0) == "stable"
    one_class = monitoring.population_stability_index(balanced, [50, 0, 0])
    # by hand: (1 - .4) ln(1/.4) + 2 (1e-4 - .3) ln(1e-4/.3)
    expected = 0.6 * math.log(1 / 0.4) + 2 * (1e-4 - 0.3) * math.log(1e-4 / 0.3)
    assert one_class == pytest.approx(expected, rel=1e-3) and monitoring.drift_verdict(one_class) == "major shift"
    assert monitoring.drift_verdict(0.15) == "moderate shift"


@pytest.mark.parametrize(("probability", "tenth"), [(0.0, 0), (0.099, 0), (0.1, 1), (0.55, 5), (0.999, 9), (1.0, 9)])
def test_a_probability_falls_in_its_tenth(probability, tenth):
    assert monitoring.confidence_bin(probability) == tenth


def test_a_baseline_refuses_counts_that_do_not_fit_together():
    with pytest.raises(ValueError, match="10 confidence bins and one count per class"):
        monitoring.baseline([1, 2], [3], ["a"])
    with pytest.raises(ValueError, match="count different samples"):
        monitoring.baseline([1] * 10, [3, 4], ["a", "b"])
    with pytest.raises(ValueError, match="no sample to compare"):
        monitoring.population_stability_index([0, 0], [1, 2])
