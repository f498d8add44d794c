"""The dashboard and the alarms watch metrics that exist: the names and dimensions the functions' code writes (in the
namespace and service Globals give Powertools), and AWS's own metrics of the API, the endpoint and the state
machine, under the names this stack's resources really get. An alarm that watches a misspelt metric never fires."""

import json
import re

import pytest

from common.sagemaker_requests import VARIANT_NAME
from tests.support.paths import ROOT

AWS_NAMESPACES = {"AWS/States", "AWS/SageMaker", "AWS/ApiGateway"}
# Files that write metrics: every name and dimension they write appears in them as a string literal.
METRIC_WRITERS = [
    path for path in (ROOT / "functions").rglob("*.py") if re.search(r"add_metric|single_metric", path.read_text())
]
WRITTEN_LITERALS = {literal for path in METRIC_WRITERS for literal in re.findall(r'"(\w+)"', path.read_text())}


@pytest.fixture(scope="module")
def dashboard_metrics(template) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric the dashboard draws (expressions aside)."""
    (dashboard,) = template.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(template.resolve(dashboard["Properties"]["DashboardBody"]))
    found = []
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            names = [item for item in row if isinstance(item, str)]
            if names:
                namespace, metric, *pairs = names
                found.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


@pytest.fixture(scope="module")
def alarm_metrics(template) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """Alarm name -> (namespace, metric, dimensions) of each metric it reads."""
    found = {}
    for logical_id, alarm in template.of_type("AWS::CloudWatch::Alarm").items():
        properties = template.resolve(alarm["Properties"])
        metrics = [query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query]
        metrics = metrics or [properties]
        found[logical_id] = [
            (m["Namespace"], m["MetricName"], {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}) for m in metrics
        ]
    return found


def powertools(template) -> tuple[str, str]:
    """(namespace, service) every function's metrics are written in (Globals: one for all)."""
    settings = {
        (function.environment["POWERTOOLS_METRICS_NAMESPACE"], function.environment["POWERTOOLS_SERVICE_NAME"])
        for function in template.functions().values()
    }
    (only,) = settings
    return only


def check_metric(template, namespace: str, metric: str, dimensions: dict[str, str]) -> None:
    own_namespace, service = powertools(template)
    if namespace == own_namespace:
        assert metric in WRITTEN_LITERALS, f"{metric}: no function writes it"
        assert dimensions.get("service") == service, f"{metric}: service {dimensions.get('service')} is not {service}"
        unknown = set(dimensions) - {"service"} - WRITTEN_LITERALS
        assert not unknown, f"{metric}: dimensions {unknown} no function writes"
        return
    assert namespace in AWS_NAMESPACES, f"{namespace}: neither the functions' namespace nor one AWS writes here"
    expected = {
        "AWS/States": {"StateMachineArn": template.get_att("PipelineStateMachine", "Arn")},
        "AWS/SageMaker": {
            "EndpointName": template.functions()["PredictFunction"].environment["ENDPOINT_NAME"],
            "VariantName": VARIANT_NAME,
        },
        # a SAM API's name is the stack's (its OpenAPI title), its stage the StageName
        "AWS/ApiGateway": {"ApiName": template.api().name, "Stage": template.api().stage},
    }[namespace]
    assert dimensions == expected, f"{namespace} {metric}: {dimensions} is not this stack's {expected}"


def test_the_dashboard_draws_only_metrics_that_are_written(template, dashboard_metrics):
    drawn = {(namespace, metric) for namespace, metric, _ in dashboard_metrics}
    namespace, _ = powertools(template)
    for wanted in ("RequestLatency", "TopConfidence", "LowConfidenceImages", "JobSeconds"):
        assert (namespace, wanted) in drawn
    for wanted in ("ExecutionsFailed", "Invocation5XXErrors", "5XXError", "Latency"):
        assert any(metric == wanted for _, metric in drawn), wanted
    for namespace, metric, dimensions in dashboard_metrics:
        check_metric(template, namespace, metric, dimensions)


def test_the_refusals_widget_searches_the_metrics_predict_writes(template):
    (dashboard,) = template.of_type("AWS::CloudWatch::Dashboard").values()
    body = template.resolve(dashboard["Properties"]["DashboardBody"])
    searched = re.findall(r"SEARCH\('\{(\w+),(\w+),(\w+)\} MetricName=\\\"(\w+)\\\"", body)
    namespace, _ = powertools(template)
    assert {name for *_, name in searched} == {"ClientErrors", "ServerErrors"}
    for searched_namespace, *dimensions, metric in searched:
        assert searched_namespace == namespace and metric in WRITTEN_LITERALS
        assert set(dimensions) - {"service"} <= WRITTEN_LITERALS


def test_the_alarms_watch_written_metrics_and_tell_the_alarm_topic(template, alarm_metrics):
    for metrics in alarm_metrics.values():
        for namespace, metric, dimensions in metrics:
            check_metric(template, namespace, metric, dimensions)
    alarms = template.of_type("AWS::CloudWatch::Alarm")
    watched = {logical_id: {metric for _, metric, _ in metrics} for logical_id, metrics in alarm_metrics.items()}
    assert (
        watched["ApiServerErrorsAlarm"] == {"5XXError"}
        and alarms["ApiServerErrorsAlarm"]["Properties"]["Statistic"] == "Average"
    )
    assert (
        watched["ApiLatencyAlarm"] == {"Latency"}
        and alarms["ApiLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p90"
    )
    assert watched["LowConfidenceAlarm"] == {"LowConfidenceImages", "ImagesLabelled"}
    for logical_id in ("ApiServerErrorsAlarm", "ApiLatencyAlarm", "LowConfidenceAlarm"):
        properties = alarms[logical_id]["Properties"]
        assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id


def test_cloudwatch_may_publish_to_the_alarm_topic(template, document):
    """CloudWatch cannot use the AWS-managed aws/sns key: the alarm topic's key lets this account's alarms use it."""
    topic = template.resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    policy = template.resolve(template.resources["AlarmTopicKey"]["Properties"]["KeyPolicy"])
    (cloudwatch,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {
        "StringEquals": {"aws:SourceAccount": template.resolve({"Ref": "AWS::AccountId"})}
    }
    # NotificationEmail gets the failures, the releases and the alarms
    subscriptions = [r for r in document["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert {(s["Properties"]["TopicArn"]["Ref"], s["Condition"]) for s in subscriptions} == {
        ("FailureTopic", "HasNotificationEmail"),
        ("ReleaseTopic", "HasNotificationEmail"),
        ("AlarmTopic", "HasNotificationEmail"),
    }
