"""The twin makes the stack's alarms and dashboard as CloudFormation does, with PutMetricAlarm and PutDashboard on
the resources' properties: botocore checks each request against CloudWatch's API model."""

import json

import boto3
import pytest
from moto import mock_aws

from local_twin.moto_stack import MotoStack
from local_twin.template import Template
from tests.support.paths import ROOT


@pytest.fixture
def made(tmp_path, monkeypatch):
    """The template's CloudWatch resources, made by the twin's stack in a mocked CloudWatch."""
    template = Template.load(ROOT)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name=template.region)
        stack = MotoStack(template, workdir=tmp_path)
        monkeypatch.setattr(stack, "client", lambda service: {"cloudwatch": cloudwatch}[service])
        stack._create_alarms_and_dashboards()
        yield template, cloudwatch


def test_every_alarm_is_made_with_its_thresholds_metrics_and_actions(made):
    template, cloudwatch = made
    alarms = {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    expected = {template.physical(logical_id).ref for logical_id in template.of_type("AWS::CloudWatch::Alarm")}
    assert set(alarms) == expected and len(expected) == 4
    alarm_topic = template.topics()["AlarmTopic"]
    latency = alarms[template.physical("ApiLatencyAlarm").ref]
    assert (latency["ExtendedStatistic"], latency["Threshold"], latency["EvaluationPeriods"]) == ("p90", 5000.0, 3)
    assert latency["AlarmActions"] == latency["OKActions"] == [alarm_topic]
    low = alarms[template.physical("LowConfidenceAlarm").ref]
    assert low["Threshold"] == float(template.parameters["LowConfidenceAlarmShare"])
    (share,) = [query for query in low["Metrics"] if query.get("ReturnData")]
    assert share["Expression"] == "IF(labelled >= 20, low / labelled, 0)"


def test_the_dashboard_is_made_with_its_resolved_body(made):
    template, cloudwatch = made
    name = template.physical("MonitoringDashboard").ref
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    assert titles[:3] == ["Pipeline runs", "Job durations (s)", "Endpoint invocations and errors"]
    assert "${" not in json.dumps(body)  # every substitution resolved
