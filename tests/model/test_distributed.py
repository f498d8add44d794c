"""hpo.py and train_model.py as torchrun starts them (SageMaker's torch_distributed distribution): two real
processes on gloo, each rank with folders of its own, to see that the ranks end alike, that only rank 0 writes,
that every metric line is the whole split's, and that a restarted job resumes every rank from rank 0's checkpoint."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_code import debugger, dogbreeds, metrics, training
from model_code.rule_settings import LOSS_PLOT
from tests.support.digits import COLOUR_ARGS, DIGITS_TRAINING_ARGS

PROBE = Path(__file__).resolve().parents[1] / "support" / "rank_probe.py"
PROCESSES = 2


def torchrun(script: str, weights: Path, *arguments: str, processes: int = PROCESSES) -> str:
    """``torchrun --standalone`` (a free rendezvous port) over the probe; the ranks' output, which must succeed."""
    weights.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               str(PROBE), script, str(weights), *arguments]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def rank_folders(tmp_path: Path, script: str = "train_model") -> list[str]:
    """Each rank's own SageMaker folders (``{rank}`` is the rank: rank_probe.py); train_model.py's trial too."""
    base = f"{tmp_path}/rank{{rank}}"
    folders = ["--model-dir", f"{base}/model", "--output-data-dir", f"{base}/output",
               "--checkpoint-dir", f"{base}/checkpoints"]  # fmt: skip
    return folders + (["--debug-out-dir", f"{base}/tensors"] if script == "train_model" else [])


def written(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.slow
def test_two_ranks_end_alike_only_rank_0_writes_and_metric_lines_mean_the_whole_split(colour_dataset, tmp_path):
    out = torchrun("train_model", tmp_path / "weights", *COLOUR_ARGS, "--epochs", "3", "--data-dir",
                   str(colour_dataset), *rank_folders(tmp_path))  # fmt: skip
    ranks = [torch.load(tmp_path / "weights" / f"rank{rank}.pth", weights_only=True) for rank in range(PROCESSES)]
    assert all(torch.equal(ranks[0][key], ranks[1][key]) for key in ranks[0])  # weights and BatchNorm statistics

    rank0, rank1 = tmp_path / "rank0", tmp_path / "rank1"
    assert written(rank1) == []  # no model, checkpoint, trial, plot or verdicts from rank 1
    exported = torch.load(rank0 / "model" / "model.pth", weights_only=True)
    assert all(torch.equal(exported[key], ranks[0][key]) for key in exported)
    assert (rank0 / "checkpoints" / training.CHECKPOINT_FILE).is_file()
    assert (rank0 / "output" / LOSS_PLOT).is_file()

    # one metric line per epoch (rank 1 prints none), each of the whole validation split
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch=")]
    assert [line.split()[0] for line in epoch_lines] == ["epoch=1", "epoch=2", "epoch=3"]
    # --batch-size 8 is the global batch: 4 per process, the same steps per epoch and the same rate as one process
    assert "distributed: 2 processes (gloo)" in out
    assert "learning rate 0.01 for a global batch of 8 (2 processes x 4; --lr 0.01 is for 8)" in out
    metadata = json.loads((rank0 / "model" / "metadata.json").read_text())
    test_split = len(dogbreeds.discover_dataset(colour_dataset)["test"].samples)
    assert metadata["world_size"] == PROCESSES and metadata["test_metrics"]["samples"] == test_split
    # the smdebug trial's per-epoch losses are the reduced ones the metric lines print, not rank 0's share
    curves = debugger.read_losses(str(rank0 / "tensors"))
    printed = metrics.parse_metric_lines(out)
    assert curves["EVAL"][1] == pytest.approx(printed[metrics.VALID_LOSS], rel=1e-4)  # float32 in the trial
    assert curves["TRAIN"][1] == pytest.approx(printed[metrics.TRAIN_LOSS], rel=1e-4)


@pytest.mark.slow
def test_a_restarted_distributed_trial_resumes_every_rank_from_rank_0s_checkpoint(colour_dataset, tmp_path):
    """Only rank 0 checkpoints (rank 1's folder stays empty); on a restart rank 0's checkpoint is every rank's."""
    common = [*COLOUR_ARGS, "--data-dir", str(colour_dataset), *rank_folders(tmp_path, "hpo")]
    torchrun("hpo", tmp_path / "first", *common, "--epochs", "1")
    assert written(tmp_path / "rank1") == []
    out = torchrun("hpo", tmp_path / "weights", *common, "--epochs", "3")
    assert "after epoch 1" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == ["epoch=2", "epoch=3"]
    ranks = [torch.load(tmp_path / "weights" / f"rank{rank}.pth", weights_only=True) for rank in range(PROCESSES)]
    assert all(torch.equal(ranks[0][key], ranks[1][key]) for key in ranks[0])
    trial = json.loads((tmp_path / "rank0" / "output" / "trial.json").read_text())
    assert [entry["epoch"] for entry in trial["history"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("batch", "world", "each", "lr"), [(64, 1, 64, 0.01), (64, 2, 32, 0.01), (7, 2, 4, 0.01 * 8 / 7)]
)
def test_the_tuned_batch_is_the_global_one_and_the_rate_follows_the_batch_really_trained(batch, world, each, lr):
    args = argparse.Namespace(batch_size=batch, lr=0.01, distributed=world > 1, world_size=world)
    assert training.process_batch_size(args) == each
    assert training.scaled_lr(args) == pytest.approx(lr)


@pytest.mark.slow
def test_two_processes_learn_the_digits_as_well_as_one(digits_dataset, trained_digits_model, tmp_path):
    """The same recipe on two processes (the same global batch and rate, half of it on each: docs/model.md) reaches
    the single process's test accuracy within noise."""
    root, _ = digits_dataset
    torchrun("train_model", tmp_path / "weights", *DIGITS_TRAINING_ARGS, "--data-dir", str(root),
             *rank_folders(tmp_path))  # fmt: skip
    single = json.loads((trained_digits_model / "metadata.json").read_text())["test_metrics"]["test_accuracy"]
    metadata = json.loads((tmp_path / "rank0" / "model" / "metadata.json").read_text())
    assert metadata["world_size"] == PROCESSES
    assert metadata["test_metrics"]["test_accuracy"] == pytest.approx(single, abs=0.04), (single, metadata)
