"""A hyperparameter-tuning trial: train with the given hyperparameters, report validation metrics.

SageMaker's tuning job reads ``valid_accuracy`` from the metric lines (regexes in metrics.py); the last one
is the best epoch's, whose weights the trial exports. The test split is never looked at here. Trials run on
spot: each epoch is checkpointed into SageMaker's checkpoint folder and an interrupted trial resumes from
it. The trial's model goes to the model folder, as SageMaker expects of every training job. Distributed
(torchrun), only rank 0 writes them.
"""

from pathlib import Path

from model_code import distributed, dogbreeds, training


def main(argv: list[str] | None = None) -> None:
    parser = training.build_parser(__doc__.splitlines()[0])
    args = training.parse_args(parser, argv)
    run = training.prepare_run(args)
    training.fit(run, start_epoch=training.resume(run))
    distributed.cleanup()
    if args.rank != 0:  # (the process group is gone: args remembers the rank)
        return
    training.write_json(
        Path(args.output_data_dir) / "trial.json",
        {"hyperparameters": training.hyperparameters_of(args), "history": run.history, "best_epoch": run.best_epoch},
    )
    dogbreeds.save_artifacts(Path(args.model_dir), run.model, run.classes, training.model_metadata(run))


if __name__ == "__main__":
    main()
