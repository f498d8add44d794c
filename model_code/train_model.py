"""The final, debugged training with the best hyperparameters.

Same training as hpo.py (checkpoints every epoch into SageMaker's checkpoint folder and resumes from it
after a spot interruption; the best validation epoch's weights are kept), plus: SageMaker Debugger records
the losses (TRAIN and EVAL modes), one evaluation of those weights on the TEST split (read once, at the end)
printed as a metric line, a self-contained model folder (state_dict, class names, metadata, code/ for the
endpoint) and the loss curves as a PNG. Distributed (torchrun), every rank trains and evaluates its share and
only rank 0 writes: the model, the checkpoints, the smdebug trial, the loss plot and the rules' verdicts.
"""

from pathlib import Path

from model_code import debugger, distributed, dogbreeds, entry_points, monitoring, training
from model_code.metrics import TEST_ACCURACY, TEST_LOSS, format_metric_line
from model_code.rule_settings import LOSS_PLOT, rule_parameters


def build_parser():
    parser = training.build_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--debug-out-dir",
        default=None,
        help="where smdebug writes the losses when the Debugger service gives no hook configuration "
        "(default: <output-data-dir>/debug-output)",
    )
    return parser


def export_model(run: training.Run, model_dir: Path, test: training.EpochResult) -> None:
    test_metrics = {TEST_LOSS: test.loss, TEST_ACCURACY: test.accuracy, "samples": test.samples}
    # what the live model's answers are compared with (dogbreeds monitor): its answers on the test split
    answers = monitoring.baseline(test.confidence_histogram, test.predicted_counts, run.classes)
    metadata = training.model_metadata(run, test_metrics=test_metrics, baseline=answers)
    dogbreeds.save_artifacts(model_dir, run.model, run.classes, metadata)
    entry_points.write_inference_code(model_dir)


def main(argv: list[str] | None = None) -> None:
    args = training.parse_args(build_parser(), argv)
    run = training.prepare_run(args)
    start_epoch = training.resume(run)

    recorder = loss_recorder(run)
    if recorder and run.history:  # resumed: the epochs trained before the interruption are recorded first
        recorder.replay(run.history)

    training.fit(run, start_epoch=start_epoch, on_phase=recorder.set_phase if recorder else lambda phase: None)
    if recorder:
        recorder.set_phase("test")
    test = training.evaluate(run.model, run.loaders["test"], run.criterion, run.device, num_classes=len(run.classes))
    print(format_metric_line(**{TEST_LOSS: test.loss, TEST_ACCURACY: test.accuracy}), flush=True)
    if recorder:
        recorder.close()
    distributed.cleanup()  # the last collective: what follows is rank 0's alone
    if args.rank != 0:  # (the process group is gone: args remembers the rank)
        return
    export_model(run, Path(args.model_dir), test)

    if recorder:
        write_loss_plot(recorder.out_dir, Path(args.output_data_dir))
    debugger.judge_losses(recorder, Path(args.output_data_dir), rule_parameters(args.epochs))


def loss_recorder(run: training.Run) -> debugger.LossRecorder | None:
    """Rank 0's smdebug recorder (None without smdebug); in a distributed run every other rank gets its share of
    the recording when rank 0 has one, so that each pass's loss is the whole split's."""
    args = run.args
    debug_out_dir = args.debug_out_dir or debugger.default_out_dir(args.output_data_dir)
    if not args.distributed:
        return debugger.create_loss_recorder(debug_out_dir, run.model, run.criterion)
    reduce = distributed.reduce_across_processes
    recorder = (
        debugger.create_loss_recorder(debug_out_dir, run.model, run.criterion, reduce)
        if distributed.is_main_process()
        else None
    )
    if not distributed.main_process_agrees(recorder is not None):
        return None
    return recorder or debugger.LossRecorder.for_other_rank(run.criterion, reduce)


def write_loss_plot(tensors: str, output_data_dir: Path) -> None:
    """The model is exported already: a problem with the plot is reported, never fatal."""
    try:
        curves = debugger.read_losses(tensors)
        if not curves:
            print("the Debugger trial holds no losses: no loss plot", flush=True)
            return
        plot = debugger.plot_losses(curves, output_data_dir / LOSS_PLOT)
        print(f"loss curves: {plot}", flush=True)
    except Exception as error:  # reading smdebug's files or drawing: report it, keep the trained model
        print(f"no loss plot: {type(error).__name__}: {error}", flush=True)


if __name__ == "__main__":
    main()
