"""A hyperparameter-tuning trial: train with the given hyperparameters, report validation metrics.

SageMaker's tuning job reads ``valid_accuracy`` from the metric line printed after every epoch
(regexes in metrics.py). The test split is never looked at here.
"""

from pathlib import Path

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


if __name__ == "__main__":
    main()
