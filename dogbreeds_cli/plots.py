"""A run's pictures: the tuning chart drawn here, and the loss curves the final training job drew.

The tuning chart is drawn by the CLI, not in the pipeline: the CLI already reads every trial for `watch`, the
Lambdas stay small (no matplotlib), no job needs permission to list the tuning job's trials, and a chart can be
drawn again for any past run. It is written beside the loss curves, which come out of the final job's
output.tar.gz (model_code/train_model.py draws them inside the job, where the Debugger tensors are).
"""

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from dogbreeds_cli.snapshot import Clients, RunSnapshot
from dogbreeds_cli.view import best_trial, hyperparameter, objective
from model_code.metrics import OBJECTIVE_METRIC
from model_code.rule_settings import LOSS_PLOT

TUNING_PLOT = "tuning.png"
MARKERS = "osD^vP*X"


def tuning_figure(trials: Sequence[dict], best: dict | None, title: str):
    """Objective against learning rate (log scale), one marker per batch size, the best trial ringed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    figure, axes = plt.subplots(figsize=(7, 4.5))
    scored = [trial for trial in trials if objective(trial) is not None]
    sizes = sorted({hyperparameter(trial, "batch-size") for trial in scored}, key=lambda size: (len(size), size))
    for marker, size in zip(MARKERS, sizes, strict=False):
        group = [trial for trial in scored if hyperparameter(trial, "batch-size") == size]
        axes.scatter(
            [float(hyperparameter(trial, "lr")) for trial in group],
            [objective(trial) for trial in group],
            marker=marker,
            s=60,
            label=f"batch size {size}",
        )
    if best is not None:
        axes.scatter(
            [float(hyperparameter(best, "lr"))],
            [objective(best)],
            s=320,
            facecolors="none",
            edgecolors="red",
            linewidths=2,
            label=f"best: {objective(best):.4f}",
            gid="best",
        )
    axes.set_xscale("log")
    # a tuning range spans a decade or two: label 1, 2 and 5 of each decade, plainly
    axes.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.margins(0.12)
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel(f"{OBJECTIVE_METRIC} (objective)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def write_tuning_plot(snapshot: RunSnapshot, out_dir: Path) -> Path | None:
    if not snapshot.tuning or not any(objective(trial) is not None for trial in snapshot.trials):
        return None
    from matplotlib import pyplot as plt

    scored = sum(objective(trial) is not None for trial in snapshot.trials)
    name = snapshot.tuning["HyperParameterTuningJobName"]
    title = f"Tuning job {name}: {len(snapshot.trials)} trials, {scored} scored"
    figure = tuning_figure(snapshot.trials, best_trial(snapshot), title)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TUNING_PLOT
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def fetch_loss_plot(clients: Clients, training: dict, out_dir: Path) -> Path | None:
    """The loss curves from the final job's output.tar.gz (None when the job drew none)."""
    if training.get("TrainingJobStatus") != "Completed":
        return None
    output = urlsplit(training["OutputDataConfig"]["S3OutputPath"].rstrip("/"))
    key = f"{output.path.lstrip('/')}/{training['TrainingJobName']}/output/output.tar.gz"
    body = clients("s3").get_object(Bucket=output.netloc, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        member = next((m for m in archive.getmembers() if Path(m.name).name == LOSS_PLOT and m.isfile()), None)
        if member is None:
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / LOSS_PLOT
        path.write_bytes(archive.extractfile(member).read())
    return path


def write_run_plots(clients: Clients, snapshot: RunSnapshot, out_dir: Path) -> list[Path]:
    written = [write_tuning_plot(snapshot, out_dir)]
    if snapshot.training:
        written.append(fetch_loss_plot(clients, snapshot.training, out_dir))
    return [path for path in written if path is not None]
