"""The tuning chart's data, read back from the figure: objective against learning rate, a marker per batch size,
the best trial ringed."""

from dogbreeds_cli.plots import tuning_figure, write_tuning_plot
from dogbreeds_cli.snapshot import RunSnapshot
from dogbreeds_cli.view import best_trial


def trial(name: str, lr: str, batch_size: str, accuracy: float | None, status: str = "Completed") -> dict:
    summary = {
        "TrainingJobName": name,
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"lr": lr, "batch-size": f'"{batch_size}"'},  # quoted, as some SDKs send them
    }
    if accuracy is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "valid_accuracy", "Value": accuracy}
    return summary


TRIALS = [
    trial("t1", "0.001", "32", 0.71),
    trial("t2", "0.003", "64", 0.93),
    trial("t3", "0.0002", "32", 0.55),
    trial("t4", "0.006", "64", None, status="Failed"),  # no objective: not drawn
]


def test_each_batch_size_has_its_marker_and_the_best_trial_is_ringed():
    figure = tuning_figure(TRIALS, TRIALS[1], "tuning")
    (axes,) = figure.axes
    drawn = {collection.get_label(): collection.get_offsets().tolist() for collection in axes.collections}
    assert drawn == {
        "batch size 32": [[0.001, 0.71], [0.0002, 0.55]],
        "batch size 64": [[0.003, 0.93]],
        "best: 0.9300": [[0.003, 0.93]],
    }
    (best,) = [collection for collection in axes.collections if collection.get_gid() == "best"]
    assert best.get_offsets().tolist() == [[0.003, 0.93]]
    markers = {collection.get_label(): collection.get_paths()[0].vertices.tolist() for collection in axes.collections}
    assert markers["batch size 32"] != markers["batch size 64"]
    assert axes.get_xscale() == "log" and axes.get_ylabel() == "valid_accuracy (objective)"


def test_the_chart_is_written_only_when_a_trial_scored(tmp_path):
    tuning = {"HyperParameterTuningJobName": "dogbreeds-1-hpo"}
    unscored = RunSnapshot({"status": "RUNNING"}, [], {"States": {}}, tuning, [TRIALS[3]])
    assert write_tuning_plot(unscored, tmp_path) is None
    scored = RunSnapshot({"status": "RUNNING"}, [], {"States": {}}, tuning, TRIALS)
    path = write_tuning_plot(scored, tmp_path)
    assert path == tmp_path / "tuning.png" and path.stat().st_size > 10_000


def test_best_is_the_highest_objective():
    snapshot = RunSnapshot({"status": "RUNNING"}, [], {"States": {}}, {"x": 1}, TRIALS)
    assert best_trial(snapshot)["TrainingJobName"] == "t2"
