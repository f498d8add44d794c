"""PickBest: the best trial's hyperparameters, typed."""


def test_pick_best_types_the_hyperparameters():
    from pick_best import app

    tuned = {"lr": "0.0031", "batch-size": '"64"', "fine-tune": "full"}
    objective = {"MetricName": "valid_accuracy", "Value": 0.84}
    best = app.best_trial(
        {"BestTrainingJob": {"TrainingJobName": "t-002", "TunedHyperParameters": tuned,
                             "FinalHyperParameterTuningJobObjectiveMetric": objective}}
    )  # fmt: skip
    assert best == {
        "training_job_name": "t-002",
        "hyperparameters": {"lr": 0.0031, "batch-size": 64, "fine-tune": "full"},
        "objective": {"metric": "valid_accuracy", "value": 0.84},
    }
