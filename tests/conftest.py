"""Fixtures shared by every part's tests: datasets in the dog-breed layout and a trained digits model."""

import json
import sys
from pathlib import Path

import pytest

from local_twin.digits import write_digits_dataset

# Small recipe for tests: real handwritten digits, ResNet18 from scratch, a few epochs on 2 cores.
DIGITS_TRAINING_ARGS = [
    "--weights", "none", "--image-size", "32", "--epochs", "4", "--lr", "0.003", "--batch-size", "64",
    "--crop-scale-min", "0.6", "--hflip", "0", "--backbone-lr-factor", "1", "--workers", "0",
]  # fmt: skip


@pytest.fixture(scope="session")
def digits_dataset(tmp_path_factory) -> tuple[Path, list]:
    """scikit-learn's real digits as <root>/{train,valid,test}/<NNN.Name>/*.jpg, plus the held-out test images."""
    root = tmp_path_factory.mktemp("digits")
    held_out = write_digits_dataset(root, image_size=32)
    return root, held_out


@pytest.fixture(scope="session")
def trained_digits_model(digits_dataset, tmp_path_factory) -> Path:
    """A model folder (model.pth, classes.json, metadata.json, code/) written by train_model.py."""
    import train_model

    root, _ = digits_dataset
    work = tmp_path_factory.mktemp("digits-model")
    train_model.main(
        [*DIGITS_TRAINING_ARGS, "--data-dir", str(root), "--model-dir", str(work / "model"),
         "--output-data-dir", str(work / "output"), "--debug-out-dir", str(work / "tensors")]
    )  # fmt: skip
    metadata = json.loads((work / "model" / "metadata.json").read_text())
    assert metadata["test_metrics"]["test_accuracy"] > 0.8, metadata["test_metrics"]
    return work / "model"


@pytest.fixture
def inference_module(trained_digits_model):
    """model_code/inference.py with the trained digits model loaded (as the container does once)."""
    import inference

    predictor = inference.model_fn(str(trained_digits_model))
    assert sys.modules["inference"] is inference
    return inference, predictor
