"""The twin's CloudWatch reads the metrics in the functions' logs (local_twin/emf.py), as CloudWatch Logs does with
the embedded metric format: Powertools' records become metrics, one per dimension set, with every value."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools import Metrics, single_metric
from moto import mock_aws

from local_twin import emf


@pytest.fixture
def powertools_lines(capsys, monkeypatch):
    """What a handler's Metrics prints: one request's metric set, then a single metric of its own."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "dogbreeds")  # as the template sets it
    metrics = Metrics(namespace="DogBreeds", service="dogbreeds")
    metrics.add_dimension(name="StatusCode", value="200")
    metrics.add_metric(name="Requests", unit="Count", value=1)
    for probability in (0.9, 0.3):
        metrics.add_metric(name="TopConfidence", unit="None", value=probability)
    metrics.flush_metrics()
    with single_metric(name="ClientErrors", unit="Count", value=1, namespace="DogBreeds") as metric:
        metric.add_dimension(name="Cause", value="BadTopK")
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def cloudwatch():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def statistics(cloudwatch, name: str, dimensions: dict[str, str]) -> dict:
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace="DogBreeds", MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5), Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )  # fmt: skip
    (point,) = answer["Datapoints"]
    return point


def test_powertools_records_become_metrics_with_every_value_and_dimension(cloudwatch, powertools_lines, tmp_path):
    log = tmp_path / "PredictFunction.log"
    lines = ["START RequestId: 1 Version: $LATEST", '{"level":"INFO","message":"labelled"}',
             *powertools_lines, "END RequestId: 1"]  # fmt: skip
    log.write_text("\n".join(lines) + "\n")
    assert emf.LogMetrics(cloudwatch).extract(log) == 3
    listed = {(m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
              for m in cloudwatch.list_metrics(Namespace="DogBreeds")["Metrics"]}  # fmt: skip
    assert listed == {
        ("Requests", (("StatusCode", "200"), ("service", "dogbreeds"))),
        ("TopConfidence", (("StatusCode", "200"), ("service", "dogbreeds"))),
        ("ClientErrors", (("Cause", "BadTopK"), ("service", "dogbreeds"))),
    }
    confidence = statistics(cloudwatch, "TopConfidence", {"StatusCode": "200", "service": "dogbreeds"})
    assert (confidence["SampleCount"], confidence["Minimum"], confidence["Maximum"]) == (2.0, 0.3, 0.9)
    assert statistics(cloudwatch, "ClientErrors", {"Cause": "BadTopK", "service": "dogbreeds"})["Sum"] == 1.0


def test_only_the_lines_added_since_the_last_read_count_and_a_half_written_one_waits(
    cloudwatch, powertools_lines, tmp_path
):
    record = powertools_lines[0]
    log = tmp_path / "PredictFunction.log"
    log.write_text(f"{record}\n{record[:40]}")
    reader = emf.LogMetrics(cloudwatch)
    assert reader.extract(log) == 2  # the first record's two metrics; the rest is still being written
    assert reader.extract(log) == 0
    with log.open("a") as stream:
        stream.write(f"{record[40:]}\n")
    assert reader.extract(log) == 2
    assert statistics(cloudwatch, "Requests", {"StatusCode": "200", "service": "dogbreeds"})["Sum"] == 2.0


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"_aws": {"Timestamp": 0}}, "no _aws.CloudWatchMetrics"),
        ({"_aws": {"CloudWatchMetrics": []}}, "no _aws.Timestamp"),
        ({"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Cause"]],
          "Metrics": [{"Name": "M"}]}]}, "M": 1}, "dimension(s) ['Cause'] have no string value"),
        ({"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]],
          "Metrics": [{"Name": "M"}]}]}, "M": "many"}, "metric 'M' has no numeric value"),
    ],
)  # fmt: skip
def test_a_record_that_breaks_the_format_gives_no_metric_and_says_why(record, problem):
    assert emf.metric_data(record) == ([], problem)


def test_a_metric_without_dimensions_is_put_without_any():
    record = {"_aws": {"Timestamp": 1796300000000, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [],
              "Metrics": [{"Name": "M", "Unit": "Count"}]}]}, "M": 2}  # fmt: skip
    ((namespace, datum),), problem = emf.metric_data(record)
    assert problem is None and namespace == "N"
    assert (datum["MetricName"], datum["Dimensions"], datum["Values"]) == ("M", [], [2.0])
