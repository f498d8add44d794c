"""A hyperparameter-tuning trial: train with the given hyperparameters, report validation metrics.

SageMaker's tuning job reads ``valid_accuracy`` from the metric line printed after every epoch
(regexes in metrics.py). The test split is never looked at here. The trial's model goes to the model
folder, as SageMaker expects of every training job (each trial's model.tar.gz).
"""

from pathlib import Path

import dogbreeds
import training


def main(argv: list[str] | None = None) -> None:
    parser = training.build_parser(__doc__.splitlines()[0])
    args = training.parse_args(parser, argv)
    run = training.prepare_run(args)
    training.fit(run)
    best = max(run.history, key=lambda entry: entry["valid_accuracy"])
    training.write_json(
        Path(args.output_data_dir) / "trial.json",
        {"hyperparameters": training.hyperparameters_of(args), "history": run.history, "best_epoch": best},
    )
    dogbreeds.save_artifacts(Path(args.model_dir), run.model, run.classes, training.model_metadata(run))


if __name__ == "__main__":
    main()
