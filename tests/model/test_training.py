"""hpo.py and train_model.py really learn, record losses with smdebug, checkpoint and resume."""

import json

import pytest
from PIL import Image

import debugger
import hpo
import metrics
import rule_settings
import train_model

COLOUR_ARGS = [
    "--weights", "none", "--image-size", "16", "--epochs", "2", "--lr", "0.01", "--batch-size", "8",
    "--crop-scale-min", "0.5", "--backbone-lr-factor", "1", "--workers", "0",
]  # fmt: skip


def outputs(folder) -> list[str]:
    """Where SageMaker would point the script's outputs: never the working directory (the repository)."""
    return ["--output-data-dir", str(folder), "--model-dir", str(folder / "model")]


def test_hpo_prints_one_parsable_metric_line_per_epoch_and_learns(colour_dataset, tmp_path, capsys):
    hpo.main([*COLOUR_ARGS, "--epochs", "3", "--data-dir", str(colour_dataset), *outputs(tmp_path)])
    found = metrics.parse_metric_lines(capsys.readouterr().out)
    assert set(found) == {"train_loss", "valid_loss", "valid_accuracy"}
    assert len(found["valid_accuracy"]) == 3
    assert max(found["valid_accuracy"]) > 0.6  # chance is 1/3
    trial = json.loads((tmp_path / "trial.json").read_text())
    assert trial["hyperparameters"]["lr"] == 0.01 and len(trial["history"]) == 3


def test_messy_dataset_trains_without_error(messy_dataset, tmp_path, capsys):
    hpo.main([*COLOUR_ARGS, "--epochs", "2", "--data-dir", str(messy_dataset), *outputs(tmp_path)])
    out = capsys.readouterr().out
    assert "skipped_images=1 " in out  # one truncated file, counted once however many epochs
    assert "valid_accuracy" in metrics.parse_metric_lines(out)


def test_train_model_records_losses_writes_artifacts_and_plot(colour_dataset, tmp_path, capsys):
    train_model.main(
        [*COLOUR_ARGS, "--epochs", "3", "--data-dir", str(colour_dataset), "--model-dir", str(tmp_path / "model"),
         "--output-data-dir", str(tmp_path / "output"), "--debug-out-dir", str(tmp_path / "tensors")]
    )  # fmt: skip
    found = metrics.parse_metric_lines(capsys.readouterr().out)
    assert len(found["test_accuracy"]) == 1 and found["test_accuracy"][0] > 0.5

    curves = debugger.read_losses(str(tmp_path / "tensors"))
    assert set(curves) == {"TRAIN", "EVAL"}
    train_steps, train_losses = curves["TRAIN"]
    assert train_steps == [0, 1, 2]  # one step, one mean loss, per epoch
    assert train_losses == pytest.approx(found["train_loss"], abs=1e-4)  # the epoch's metric line, same mean
    # one shared axis, the epoch: each epoch's validation loss sits at that epoch, beside its training loss
    figure = debugger.loss_figure(curves)
    plotted = {line.get_label(): list(line.get_xdata()) for line in figure.axes[0].get_lines()}
    assert plotted == {"train": [1, 2, 3], "eval": [1, 2, 3]}
    assert figure.axes[0].get_xlabel() == "epoch"

    with Image.open(tmp_path / "output" / debugger.LOSS_PLOT) as plot:
        plot.verify()
        assert plot.format == "PNG" and plot.size[0] > 400

    model_dir = tmp_path / "model"
    assert json.loads((model_dir / "classes.json").read_text()) == ["Red setter", "Green thing", "Blue heeler"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["architecture"] == "resnet18" and metadata["image_size"] == 16
    assert metadata["test_metrics"]["test_accuracy"] == pytest.approx(found["test_accuracy"][0], abs=1e-4)
    assert {p.name for p in (model_dir / "code").iterdir()} == {"inference.py", "dogbreeds.py"}
    assert (model_dir / "model.pth").stat().st_size > 1_000_000


def test_checkpoints_every_epoch_and_resumes(colour_dataset, tmp_path, capsys):
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), "--checkpoint-dir", str(tmp_path / "ckpt"),
              "--output-data-dir", str(tmp_path / "out"), "--model-dir", str(tmp_path / "model")]  # fmt: skip
    train_model.main([*common, "--epochs", "1"])
    assert (tmp_path / "ckpt" / train_model.CHECKPOINT_FILE).is_file()
    capsys.readouterr()
    train_model.main([*common, "--epochs", "2"])  # as if a spot interruption restarted the job
    out = capsys.readouterr().out
    assert "resumed from" in out and "after epoch 1" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == ["epoch=2"]
    history = json.loads((tmp_path / "model" / "metadata.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]


def test_without_the_debugger_service_the_job_records_and_judges_its_losses(colour_dataset, tmp_path, monkeypatch,
                                                                            capsys):  # fmt: skip
    """No hook configuration (no DebugHookConfig): the trial goes with the output data, and the rules' verdicts
    are printed for the MetricDefinitions and written down."""
    monkeypatch.setenv("SMDEBUG_CONFIG_FILE_PATH", str(tmp_path / "absent.json"))
    train_model.main(
        [*COLOUR_ARGS, "--epochs", "1", "--data-dir", str(colour_dataset), "--model-dir", str(tmp_path / "m"),
         "--output-data-dir", str(tmp_path / "o")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "test_accuracy" in metrics.parse_metric_lines(out)
    assert set(debugger.read_losses(str(tmp_path / "o" / "debug-output"))) == {"TRAIN", "EVAL"}
    assert set(rule_settings.parse_verdict_lines(out)) == set(rule_settings.RULE_NAMES)
    written = json.loads((tmp_path / "o" / rule_settings.VERDICTS_FILE).read_text())
    assert {name: verdict["verdict"] for name, verdict in written.items()} == rule_settings.parse_verdict_lines(out)


@pytest.mark.slow
def test_real_handwritten_digits_are_learned(trained_digits_model):
    metadata = json.loads((trained_digits_model / "metadata.json").read_text())
    assert metadata["num_classes"] == 10
    assert metadata["test_metrics"]["test_accuracy"] >= 0.9  # chance is 0.1


def test_frozen_backbone_still_records_losses(colour_dataset, tmp_path):
    train_model.main(
        [*COLOUR_ARGS, "--epochs", "1", "--fine-tune", "frozen", "--data-dir", str(colour_dataset),
         "--model-dir", str(tmp_path / "model"), "--output-data-dir", str(tmp_path / "output"),
         "--debug-out-dir", str(tmp_path / "tensors")]
    )  # fmt: skip
    assert set(debugger.read_losses(str(tmp_path / "tensors"))) == {"TRAIN", "EVAL"}


def test_an_empty_trial_gives_no_curves_instead_of_waiting(tmp_path):
    assert debugger.read_losses(str(tmp_path)) == {}
