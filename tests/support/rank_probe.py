"""One rank of hpo.py or train_model.py, as torchrun starts it, that also keeps what the rank ended with.

``torchrun ... rank_probe.py <hpo|train_model> <weights dir> <script arguments>``: every ``{rank}`` in the
arguments becomes the rank (so each rank can be given folders of its own, to see which rank wrote what), and each
rank saves its model's final state_dict (the exported weights, on rank 0) as ``<weights dir>/rank<N>.pth``.
"""

import os
import sys
from pathlib import Path

import torch

from model_code import hpo, train_model, training

SCRIPTS = {"hpo": hpo, "train_model": train_model}


def main() -> None:
    script, weights_dir, *argv = sys.argv[1:]
    rank = os.environ["RANK"]
    fit = training.fit

    def fit_and_keep(run, *args, **kwargs):
        fit(run, *args, **kwargs)
        torch.save(run.model.state_dict(), Path(weights_dir) / f"rank{rank}.pth")

    training.fit = fit_and_keep
    SCRIPTS[script].main([argument.replace("{rank}", rank) for argument in argv])


if __name__ == "__main__":
    main()
