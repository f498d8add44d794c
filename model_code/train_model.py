"""The final, debugged training with the best hyperparameters.

Same training as hpo.py, plus: SageMaker Debugger records the losses (TRAIN and EVAL modes),
checkpoints every epoch into SageMaker's checkpoint folder and resumes from it (spot interruptions),
a final evaluation on the TEST split printed as a metric line, a self-contained model folder
(state_dict, class names, metadata, code/ for the endpoint) and the loss curves as a PNG.
"""

import os
from pathlib import Path

import torch

import debugger
import dogbreeds
import training
from metrics import TEST_ACCURACY, TEST_LOSS, format_metric_line

CHECKPOINT_FILE = "checkpoint.pth"


def default_checkpoint_dir() -> str | None:
    """SageMaker mounts checkpoints at <base>/checkpoints only when the job asks for them."""
    folder = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")) / "checkpoints"
    return str(folder) if folder.is_dir() else None


def build_parser():
    parser = training.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", default=default_checkpoint_dir(), help="resume from / save to here")
    parser.add_argument(
        "--debug-out-dir",
        default=None,
        help="where smdebug writes the losses when the Debugger service gives no hook configuration "
        "(default: <output-data-dir>/debug-output)",
    )
    return parser


def save_checkpoint(run: training.Run, epoch: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "history": run.history,
        "skipped_images": run.skipped_images,
    }
    partial = folder / (CHECKPOINT_FILE + ".partial")
    torch.save(state, partial)
    partial.replace(folder / CHECKPOINT_FILE)  # atomic: a spot interruption never leaves half a file


def resume(run: training.Run, folder: Path | None) -> int:
    """Restore the last checkpoint; returns the first epoch still to train."""
    path = folder / CHECKPOINT_FILE if folder else None
    if not path or not path.is_file():
        return 1
    state = torch.load(path, map_location=run.device, weights_only=False)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.history = state["history"]
    run.skipped_images = state["skipped_images"]
    print(f"resumed from {path} after epoch {state['epoch']}", flush=True)
    return state["epoch"] + 1


def export_model(run: training.Run, model_dir: Path, test: training.EpochResult) -> None:
    test_metrics = {TEST_LOSS: test.loss, TEST_ACCURACY: test.accuracy, "samples": test.samples}
    dogbreeds.save_artifacts(model_dir, run.model, run.classes, training.model_metadata(run, test_metrics=test_metrics))
    dogbreeds.export_inference_code(model_dir)


def main(argv: list[str] | None = None) -> None:
    args = training.parse_args(build_parser(), argv)
    run = training.prepare_run(args)
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else None
    start_epoch = resume(run, checkpoint_dir)

    debug_out_dir = args.debug_out_dir or debugger.default_out_dir(args.output_data_dir)
    recorder = debugger.create_loss_recorder(debug_out_dir, run.model, run.criterion)

    def on_epoch_end(run: training.Run, epoch: int) -> None:
        if checkpoint_dir:
            save_checkpoint(run, epoch, checkpoint_dir)

    training.fit(
        run,
        start_epoch=start_epoch,
        on_phase=recorder.set_phase if recorder else lambda phase: None,
        on_epoch_end=on_epoch_end,
    )
    if recorder:
        recorder.set_phase("test")
    test = training.evaluate(run.model, run.loaders["test"], run.criterion, run.device)
    print(format_metric_line(**{TEST_LOSS: test.loss, TEST_ACCURACY: test.accuracy}), flush=True)
    export_model(run, Path(args.model_dir), test)

    if recorder:
        recorder.close()
        write_loss_plot(recorder.out_dir, Path(args.output_data_dir))
    debugger.judge_losses(recorder, Path(args.output_data_dir))


def write_loss_plot(tensors: str, output_data_dir: Path) -> None:
    """The model is exported already: a problem with the plot is reported, never fatal."""
    try:
        curves = debugger.read_losses(tensors)
        if not curves:
            print("the Debugger trial holds no losses: no loss plot", flush=True)
            return
        plot = debugger.plot_losses(curves, output_data_dir / debugger.LOSS_PLOT)
        print(f"loss curves: {plot}", flush=True)
    except Exception as error:  # reading smdebug's files or drawing: report it, keep the trained model
        print(f"no loss plot: {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
