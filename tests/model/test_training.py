"""hpo.py and train_model.py really learn, record losses with smdebug, checkpoint and resume; the recipe's
pieces (label smoothing, no decay on norm/bias, frozen BatchNorm, warm-up, best-epoch export, arch)."""

import json

import pytest
import torch
from PIL import Image

from model_code import debugger, dogbreeds, hpo, metrics, rule_settings, train_model, training
from tests.support.digits import COLOUR_ARGS

# fmt: skip  three colours learned from scratch in 2-3 epochs: no warm-up to spare


def outputs(folder) -> list[str]:
    """Where SageMaker would point the script's outputs: never the working directory (the repository)."""
    return ["--output-data-dir", str(folder), "--model-dir", str(folder / "model")]


def test_hpo_prints_one_parsable_metric_line_per_epoch_and_learns(colour_dataset, tmp_path, capsys):
    hpo.main([*COLOUR_ARGS, "--epochs", "3", "--data-dir", str(colour_dataset), *outputs(tmp_path)])
    found = metrics.parse_metric_lines(capsys.readouterr().out)
    assert set(found) == {"epoch", "train_loss", "valid_loss", "valid_accuracy"}
    assert found["epoch"] == [1, 2, 3]  # what a watcher reads of a running job
    per_epoch, objective = found["valid_accuracy"][:3], found["valid_accuracy"][3:]
    assert objective == [max(per_epoch)]  # the last line, what the tuning job reads, is the best epoch's
    assert max(per_epoch) > 0.6  # chance is 1/3
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

    with Image.open(tmp_path / "output" / rule_settings.LOSS_PLOT) as plot:
        plot.verify()
        assert plot.format == "PNG" and plot.size[0] > 400

    model_dir = tmp_path / "model"
    assert json.loads((model_dir / "classes.json").read_text()) == ["Red setter", "Green thing", "Blue heeler"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["architecture"] == "resnet18" and metadata["image_size"] == 16
    assert metadata["test_metrics"]["test_accuracy"] == pytest.approx(found["test_accuracy"][0], abs=1e-4)
    code = model_dir / "code"  # the inference toolkit's script over the package modules it imports
    assert {path.relative_to(code).as_posix() for path in code.rglob("*.py")} == {
        "inference.py", "model_code/__init__.py", "model_code/dogbreeds.py", "model_code/inference.py",
        "model_code/dataset_contract.py", "model_code/serving_limits.py",
    }  # fmt: skip
    assert (model_dir / "model.pth").stat().st_size > 1_000_000


def test_checkpoints_every_epoch_and_resumes_judging_every_epoch(colour_dataset, tmp_path, capsys):
    """A job restarted after a spot interruption goes on from its checkpoint, and its Debugger trial (and so the
    rules' verdicts) covers every epoch: the ones before the interruption are recorded again from the checkpoint."""
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), "--checkpoint-dir", str(tmp_path / "ckpt"),
              "--output-data-dir", str(tmp_path / "out"), "--model-dir", str(tmp_path / "model")]  # fmt: skip
    train_model.main([*common, "--epochs", "1"])
    assert (tmp_path / "ckpt" / training.CHECKPOINT_FILE).is_file()
    first = capsys.readouterr().out
    train_model.main([*common, "--epochs", "3"])  # as if a spot interruption restarted the job
    out = capsys.readouterr().out
    assert "resumed from" in out and "after epoch 1" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == ["epoch=2", "epoch=3"]
    history = json.loads((tmp_path / "model" / "metadata.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == [1, 2, 3]
    # the trial holds all three epochs, epoch 1's losses as the first attempt printed them
    curves = debugger.read_losses(str(tmp_path / "out" / "debug-output"))
    assert {mode: steps for mode, (steps, _) in curves.items()} == {"TRAIN": [0, 1, 2], "EVAL": [0, 1, 2]}
    printed = metrics.parse_metric_lines(first)
    assert curves["TRAIN"][1][0] == pytest.approx(printed["train_loss"][0], abs=1e-4)
    assert curves["EVAL"][1][0] == pytest.approx(printed["valid_loss"][0], abs=1e-4)
    assert "not empty" not in out  # the first attempt's trial was superseded, not refused
    verdicts = json.loads((tmp_path / "out" / rule_settings.VERDICTS_FILE).read_text())
    assert "Error" not in {verdict["verdict"] for verdict in verdicts.values()}, verdicts


def test_a_debugger_folder_that_holds_no_trial_is_never_emptied(tmp_path):
    folder = tmp_path / "tensors"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no smdebug trial"):
        debugger.start_trial_afresh(folder)
    assert (folder / "notes.txt").read_text() == "mine"


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


def test_an_interrupted_tuning_trial_resumes_from_its_checkpoint(colour_dataset, tmp_path, capsys):
    """Trials run on spot with a CheckpointConfig: a restarted trial goes on from its last epoch."""
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), "--checkpoint-dir", str(tmp_path / "ckpt"),
              *outputs(tmp_path)]  # fmt: skip
    hpo.main([*common, "--epochs", "1"])
    first = torch.load(tmp_path / "ckpt" / training.CHECKPOINT_FILE, weights_only=False)
    capsys.readouterr()
    hpo.main([*common, "--epochs", "3"])
    out = capsys.readouterr().out
    assert "after epoch 1" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == ["epoch=2", "epoch=3"]
    trial = json.loads((tmp_path / "trial.json").read_text())
    assert [entry["epoch"] for entry in trial["history"]] == [1, 2, 3]
    assert trial["history"][0] == first["history"][0]  # epoch 1 was not trained again


def test_trials_checkpoint_under_their_own_names_and_resume_their_own(colour_dataset, tmp_path, monkeypatch, capsys):
    """A tuning job's trials share one checkpoint prefix: each writes under its own job name, so one trial never
    overwrites another's checkpoint, and a restarted trial resumes from its own."""
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), "--checkpoint-dir", str(tmp_path / "ckpt"),
              *outputs(tmp_path)]  # fmt: skip
    for trial in ("dogbreeds-1-hpo-001-aaaa", "dogbreeds-1-hpo-002-bbbb"):
        monkeypatch.setenv("TRAINING_JOB_NAME", trial)
        hpo.main([*common, "--epochs", "1"])
    written = sorted(path.relative_to(tmp_path / "ckpt").as_posix() for path in (tmp_path / "ckpt").rglob("*.pth"))
    assert written == [f"dogbreeds-1-hpo-00{n}-{c}/{training.CHECKPOINT_FILE}" for n, c in ((1, "aaaa"), (2, "bbbb"))]
    monkeypatch.setenv("TRAINING_JOB_NAME", "dogbreeds-1-hpo-001-aaaa")  # the first trial, restarted after spot
    capsys.readouterr()
    hpo.main([*common, "--epochs", "2"])
    out = capsys.readouterr().out
    assert f"resumed from {tmp_path / 'ckpt' / 'dogbreeds-1-hpo-001-aaaa'}" in out and "after epoch 1" in out


def test_a_checkpoint_of_another_job_is_never_resumed(colour_dataset, tmp_path, monkeypatch, capsys):
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), "--checkpoint-dir", str(tmp_path / "ckpt"),
              *outputs(tmp_path)]  # fmt: skip
    monkeypatch.setenv("TRAINING_JOB_NAME", "dogbreeds-1-hpo-001-aaaa")
    hpo.main([*common, "--epochs", "1"])
    mine = tmp_path / "ckpt" / "dogbreeds-1-hpo-002-bbbb"
    mine.mkdir()
    (tmp_path / "ckpt" / "dogbreeds-1-hpo-001-aaaa" / training.CHECKPOINT_FILE).rename(mine / training.CHECKPOINT_FILE)
    monkeypatch.setenv("TRAINING_JOB_NAME", "dogbreeds-1-hpo-002-bbbb")
    capsys.readouterr()
    hpo.main([*common, "--epochs", "1"])
    out = capsys.readouterr().out
    assert "ignoring" in out and "dogbreeds-1-hpo-001-aaaa" in out and "resumed" not in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == ["epoch=1"]


def test_the_best_validation_epoch_is_exported_and_tested_once(colour_dataset, tmp_path, monkeypatch, capsys):
    """Validation peaks at epoch 2 of 3: the model folder holds epoch 2's weights, and the test split is read
    once, after training, with those weights."""
    real_evaluate = training.evaluate
    scripted = iter([0.5, 0.9, 0.4])
    weights_seen, test_reads = [], []

    def evaluate(model, loader, criterion, device, num_classes=None):
        result = real_evaluate(model, loader, criterion, device, num_classes=num_classes)
        state = {key: value.clone() for key, value in model.state_dict().items()}
        if len(weights_seen) < 3:
            weights_seen.append(state)
            result.accuracy = next(scripted)
        else:
            test_reads.append(state)
        return result

    monkeypatch.setattr(training, "evaluate", evaluate)
    train_model.main(
        [*COLOUR_ARGS, "--epochs", "3", "--data-dir", str(colour_dataset), "--model-dir", str(tmp_path / "model"),
         "--output-data-dir", str(tmp_path / "output"), "--debug-out-dir", str(tmp_path / "tensors")]
    )  # fmt: skip
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["best_epoch"] == 2 and len(metadata["history"]) == 3
    exported = torch.load(tmp_path / "model" / "model.pth", weights_only=True)
    assert all(torch.equal(exported[key], weights_seen[1][key]) for key in exported)
    assert not torch.equal(exported["fc.weight"], weights_seen[2]["fc.weight"])  # not the last epoch's
    assert len(test_reads) == 1 and torch.equal(test_reads[0]["fc.weight"], exported["fc.weight"])
    assert "best_epoch=2 valid_accuracy=0.9000" in capsys.readouterr().out


def prepared_run(colour_dataset, *extra) -> training.Run:
    args = training.parse_args(training.build_parser("test"), [*COLOUR_ARGS, "--data-dir", str(colour_dataset), *extra])
    return training.prepare_run(args)


def test_label_smoothing_reaches_the_loss(colour_dataset):
    run = prepared_run(colour_dataset, "--label-smoothing", "0.2")
    assert run.criterion.label_smoothing == 0.2
    logits, targets = torch.tensor([[10.0, 0.0, 0.0]]), torch.tensor([0])
    smoothed = torch.nn.functional.cross_entropy(logits, targets, label_smoothing=0.2)
    assert run.criterion(logits, targets).item() == pytest.approx(smoothed.item())
    assert run.criterion(logits, targets).item() > torch.nn.functional.cross_entropy(logits, targets).item()


def test_norm_and_bias_parameters_get_no_weight_decay(colour_dataset):
    run = prepared_run(colour_dataset, "--weight-decay", "0.05")
    decay_of = {id(p): group["weight_decay"] for group in run.optimizer.param_groups for p in group["params"]}
    norm_ids = {id(p) for m in run.model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    for name, parameter in run.model.named_parameters():
        exempt = id(parameter) in norm_ids or name.endswith(".bias")
        assert decay_of[id(parameter)] == (0.0 if exempt else 0.05), name
    assert len(decay_of) == len(list(run.model.parameters()))  # every parameter is optimised exactly once


def test_a_frozen_backbone_keeps_its_batchnorm_statistics(colour_dataset):
    run = prepared_run(colour_dataset, "--fine-tune", "frozen")
    norms = [m for m in run.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    modes = []
    norms[0].register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    head_before = run.model.fc.weight.clone()
    training.train_one_epoch(run.model, run.loaders["train"], run.criterion, run.optimizer, run.scheduler, run.device)
    assert modes and not any(modes)  # BatchNorm ran in eval mode during training
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before, strict=True))
    assert not torch.equal(run.model.fc.weight, head_before)  # the head did train
    dogbreeds.set_training_mode(run.model, True)
    assert run.model.fc.training and not norms[0].training


def test_full_fine_tuning_updates_batchnorm_statistics(colour_dataset):
    run = prepared_run(colour_dataset, "--fine-tune", "full")
    norm = next(m for m in run.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = norm.running_mean.clone()
    training.train_one_epoch(run.model, run.loaders["train"], run.criterion, run.optimizer, run.scheduler, run.device)
    assert not torch.equal(norm.running_mean, before)


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=1.0)
    scheduler = training.warmup_cosine_schedule(optimizer, steps_per_epoch=10, epochs=5, warmup_epochs=1)
    rates = []
    for _ in range(50):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[:10] == sorted(rates[:10]) and rates[10:] == sorted(rates[10:], reverse=True)
    assert rates[-1] < 0.01
    capped = training.warmup_cosine_schedule(torch.optim.AdamW([parameter], lr=1.0), 10, 1, warmup_epochs=5)
    factor = capped.lr_lambdas[0]  # warm-up capped at half of a 10-step run: 5 steps, then the cosine
    assert [factor(step) for step in (0, 4, 5)] == [pytest.approx(0.2), pytest.approx(1.0), pytest.approx(1.0)]


@pytest.mark.parametrize("arch", dogbreeds.ARCHITECTURES)
def test_each_architecture_trains_exports_and_is_served(arch, colour_dataset, tmp_path):
    from model_code import inference

    model_dir = tmp_path / "model"
    train_model.main(
        [
            *COLOUR_ARGS,
            "--arch",
            arch,
            "--epochs",
            "1",
            "--batch-size",
            "48",
            "--data-dir",
            str(colour_dataset),
            "--model-dir",
            str(model_dir),
            "--output-data-dir",
            str(tmp_path / "output"),
        ]
    )  # fmt: skip  one step: the 48 training images in one batch
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["architecture"] == arch and metadata["hyperparameters"]["arch"] == arch
    predictor = inference.model_fn(str(model_dir))
    parameters = sum(p.numel() for p in predictor.model.parameters())
    assert parameters == sum(p.numel() for p in dogbreeds.build_model(3, arch=arch).parameters())  # the same network
    image = next((colour_dataset / "test" / "001.Red_setter").iterdir()).read_bytes()
    request = inference.input_fn(image, "image/jpeg")
    answer = json.loads(inference.output_fn(inference.predict_fn(request, predictor)))
    assert len(answer["predictions"]) == 3
    assert {p["label"] for p in answer["predictions"]} == {"Red setter", "Green thing", "Blue heeler"}


def test_an_unknown_architecture_in_the_metadata_is_refused(tmp_path):
    model = dogbreeds.build_model(2, arch="resnet18")
    dogbreeds.save_artifacts(tmp_path, model, ["a", "b"], {"architecture": "vgg11", "image_size": 16})
    with pytest.raises(ValueError, match="architecture must be one of"):
        dogbreeds.load_artifacts(tmp_path)
