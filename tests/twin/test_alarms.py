"""The twin's alarm evaluator (local_twin/alarms.py): its statistics, metric math and CloudWatch's state rules, then
the template's alarms evaluated in a mocked CloudWatch on datums put through the recorder, their states and
notifications through moto's public API."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from local_twin.alarms import (
    ALARM,
    BREACHING,
    IGNORE,
    INSUFFICIENT_DATA,
    MISSING,
    NOT_BREACHING,
    OK,
    AlarmEvaluator,
    Expression,
    MetricClock,
    MetricRecorder,
    UnsupportedAlarm,
    alarm_state,
    period_starts,
    statistic,
)
from local_twin.moto_stack import MotoStack
from local_twin.template import Template
from tests.support.paths import ROOT

# --- statistics -----------------------------------------------------------------------------------------------


def test_each_statistic_of_one_period():
    samples = [(float(value), 1.0) for value in range(1, 11)]  # 1..10
    assert [statistic(name, samples) for name in ("SampleCount", "Sum", "Average", "Minimum", "Maximum")] == [
        10.0, 55.0, 5.5, 1.0, 10.0,
    ]  # fmt: skip
    assert (statistic("p90", samples), statistic("p50", samples), statistic("p100", samples)) == (9.0, 5.0, 10.0)
    assert statistic("p99.9", samples) == 10.0
    assert statistic("Sum", []) is None  # a period without values is a missing datapoint


def test_percentiles_weigh_each_value_by_its_count():
    # 9 fast requests and 1 slow one, put as Values with Counts: p90 is still a fast one, p95 the slow one
    samples = [(100.0, 9.0), (5000.0, 1.0)]
    assert (statistic("p90", samples), statistic("p95", samples), statistic("Average", samples)) == (
        100.0, 5000.0, 590.0,
    )  # fmt: skip


def test_an_unknown_statistic_is_refused_by_name():
    with pytest.raises(UnsupportedAlarm, match="statistic 'tm90'"):
        statistic("tm90", [(1.0, 1.0)])


def test_periods_are_aligned_to_the_epoch_and_the_newest_holds_now():
    now = datetime(2026, 12, 3, 10, 7, 30, tzinfo=UTC)
    assert period_starts(now, 300, 3) == [
        datetime(2026, 12, 3, 9, 55, tzinfo=UTC), datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 10, 5, tzinfo=UTC),
    ]  # fmt: skip


# --- metric math ----------------------------------------------------------------------------------------------

SHARE = "IF(labelled >= 20, low / labelled, 0)"  # the template's LowConfidenceAlarm


@pytest.mark.parametrize(
    ("labelled", "low", "share"),
    [
        (40.0, 20.0, 0.5),
        (19.0, 19.0, 0.0),  # under 20 images: no verdict
        (20.0, None, 0.0),  # a missing metric in the chosen branch counts as 0
        (None, 5.0, None),  # a missing condition gives no datapoint
    ],
)
def test_the_templates_low_confidence_share(labelled, low, share):
    assert Expression(SHARE, {"low", "labelled", "share"}).value({"labelled": labelled, "low": low}) == share


def test_arithmetic_comparisons_and_if():
    ids = {"a", "b"}
    assert Expression("(a + b) * 2 - -b / 4", ids).value({"a": 1.0, "b": 2.0}) == 6.5
    assert Expression("a != b", ids).value({"a": 1.0, "b": 2.0}) == 1.0
    assert Expression("a / b", ids).value({"a": 1.0, "b": 0.0}) is None  # no datapoint rather than infinity
    assert Expression("a + b", ids).value({"a": 1.0, "b": None}) is None
    assert Expression("IF(a > 1, 5)", ids).value({"a": 1.0}) is None  # false, no b: no datapoint
    assert Expression("IF(a > 1, 5, b)", ids).value({"a": 1.0, "b": None}) is None  # missing b beside a scalar a
    assert Expression("IF(a > 1, a, b)", ids).value({"a": 1.0, "b": None}) == 0.0


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("FILL(m1, 0)", "the function FILL"),
        ("m1 ** 2", "the syntax 'm1 ** 2'"),
        ("m1 and m2", "the syntax 'm1 and m2'"),
        ("0 < m1 < 5", "the syntax '0 < m1 < 5'"),
        ("m1 + other", "'other' (no query of the alarm has that id)"),
        ("__import__('os')", "the function __import__"),
        ("m1.real", "the syntax 'm1.real'"),
        ("'text'", "the constant 'text'"),
    ],
)
def test_an_unsupported_expression_is_refused_naming_what(expression, named):
    with pytest.raises(UnsupportedAlarm) as refused:
        Expression(expression, {"m1", "m2"})
    assert str(refused.value) == (
        f"metric math {expression!r}: {named} is not supported by the twin's alarm evaluator "
        "(it evaluates numbers, query ids, + - * /, comparisons and IF(condition, a[, b]))"
    )


def test_an_expression_that_does_not_parse_is_refused():
    with pytest.raises(UnsupportedAlarm, match=r"metric math 'm1 \+' does not parse"):
        Expression("m1 +", {"m1"})


# --- CloudWatch's state rules ---------------------------------------------------------------------------------

RETAIN = None

# The CloudWatch user guide's two tables ("How alarm state is evaluated when data is missing"): the 5 data points
# of the evaluation range, oldest first (0 not breaching, X breaching, - missing), and the state for each way of
# treating missing data. Evaluation periods 3; datapoints to alarm 3 in the first table, 2 in the second.
GUIDE_TABLES = [
    (3, "0 - X - X", OK, OK, OK, OK),
    (3, "0 - - - -", OK, OK, OK, OK),
    (3, "- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, "- - X - -", ALARM, RETAIN, ALARM, OK),
    (2, "0 - X - X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", OK, OK, ALARM, OK),
    (2, "- - - - 0", OK, OK, ALARM, OK),
    (2, "- - - X -", ALARM, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize(("datapoints_to_alarm", "points", "missing", "ignore", "breaching", "not_breaching"),
                         GUIDE_TABLES)  # fmt: skip
def test_the_guides_tables_of_missing_data(datapoints_to_alarm, points, missing, ignore, breaching, not_breaching):
    parsed = [{"0": False, "X": True, "-": None}[point] for point in points.split()]
    got = [alarm_state(parsed, 3, datapoints_to_alarm, treat) for treat in (MISSING, IGNORE, BREACHING, NOT_BREACHING)]
    assert got == [missing, ignore, breaching, not_breaching]


def test_m_out_of_n_needs_m_breaching_among_the_last_n():
    assert alarm_state([False, False, True, False, True], 3, 2, MISSING) == ALARM
    assert alarm_state([True, True, False, False, True], 3, 2, MISSING) == OK  # older breaches are out of the window
    assert alarm_state([False, True, True, True, False], 3, 3, MISSING) == OK


# --- the template's alarms in a mocked CloudWatch -------------------------------------------------------------

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a period boundary of every alarm here


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """The template's alarms, its alarm topic with an inbox, the recorder and the evaluator, in a mocked AWS."""
    template = Template.load(ROOT)
    with mock_aws():
        clients = {name: boto3.client(name, region_name=template.region) for name in ("cloudwatch", "sns", "sqs")}
        moto_stack = MotoStack(template, workdir=tmp_path)
        monkeypatch.setattr(moto_stack, "client", lambda service: clients[service])
        moto_stack._create_alarms_and_dashboards()
        topic = clients["sns"].create_topic(Name=template.topics()["AlarmTopic"].rsplit(":", 1)[1])["TopicArn"]
        assert topic == template.topics()["AlarmTopic"]
        inbox = moto_stack._subscribe_queue(topic)
        clock = MetricClock()
        recorder = MetricRecorder(clients["cloudwatch"], clock)
        evaluator = AlarmEvaluator(clients["cloudwatch"], clients["sns"], recorder, clock, template.region)
        yield template, clients["cloudwatch"], recorder, evaluator, clock, lambda: moto_stack.drain(inbox)


def gateway(template, name: str, value: float, unit: str = "Count") -> dict:
    dimensions = [{"Name": "ApiName", "Value": template.stack_name}, {"Name": "Stage", "Value": "prod"}]
    return {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit}


def state_of(cloudwatch, name: str) -> dict:
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm


def test_5xx_over_three_periods_sets_alarm_and_notifies_the_topic_then_ok(stack):
    template, cloudwatch, recorder, evaluator, clock, inbox = stack
    name = template.physical("ApiServerErrorsAlarm").ref
    for period in range(3):  # 1 request in 10 answered 5xx, in each of three 5-minute periods
        clock.set(T0 + timedelta(minutes=5 * period, seconds=30))
        data = [gateway(template, "5XXError", float(index == 0)) for index in range(10)]
        recorder.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)
        states = evaluator.evaluate()
    assert states[name] == ALARM
    alarm = state_of(cloudwatch, name)
    assert alarm["StateValue"] == ALARM
    assert alarm["StateReason"] == (
        "Threshold Crossed: 3 out of the last 3 datapoints [0.1 (03/12/26 10:10:00), 0.1 (03/12/26 10:05:00), "
        "0.1 (03/12/26 10:00:00)] were greater than the threshold (0.05) (minimum 3 datapoints for OK -> ALARM "
        "transition)."
    )
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [0.1, 0.1, 0.1]
    messages = [json.loads(message) for message in inbox()]
    (alarmed,) = [message for message in messages if message["AlarmName"] == name and message["NewStateValue"] == ALARM]
    assert (alarmed["OldStateValue"], alarmed["Region"], alarmed["AWSAccountId"]) == (OK, "US East (N. Virginia)",
                                                                                       "123456789012")  # fmt: skip
    assert alarmed["NewStateReason"] == alarm["StateReason"] and alarmed["AlarmArn"] == alarm["AlarmArn"]
    assert alarmed["StateChangeTime"].startswith("2026-12-03T10:10:30.") and alarmed["StateChangeTime"].endswith(
        "+0000"
    )  # the evaluation's time, in CloudWatch's format
    assert alarmed["Trigger"] == {
        "MetricName": "5XXError", "Namespace": "AWS/ApiGateway", "StatisticType": "Statistic",
        "Statistic": "AVERAGE", "Unit": None,
        "Dimensions": [{"value": template.stack_name, "name": "ApiName"}, {"value": "prod", "name": "Stage"}],
        "Period": 300, "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.05, "TreatMissingData": "notBreaching", "EvaluateLowSampleCountPercentile": "",
    }  # fmt: skip
    # the errors stop: a clean period later the alarm is OK again, and says so on OKActions
    clock.set(T0 + timedelta(minutes=15, seconds=30))
    recorder.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[gateway(template, "5XXError", 0.0)])
    assert evaluator.evaluate()[name] == OK
    (cleared,) = [json.loads(message) for message in inbox()]
    assert (cleared["AlarmName"], cleared["OldStateValue"], cleared["NewStateValue"]) == (name, ALARM, OK)


def test_errors_in_fewer_periods_than_the_alarm_needs_leave_it_ok(stack):
    template, cloudwatch, recorder, evaluator, clock, _ = stack
    clock.set(T0 + timedelta(seconds=30))
    recorder.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[gateway(template, "5XXError", 1.0)] * 5)
    name = template.physical("ApiServerErrorsAlarm").ref
    assert evaluator.evaluate()[name] == OK  # 1 breaching period of 3, the 2 missing not breaching
    assert state_of(cloudwatch, name)["StateReason"] == (
        "Threshold Crossed: 1 out of the last 3 datapoints [1.0 (03/12/26 10:00:00)] was greater than the threshold "
        "(0.05) (minimum 3 datapoints for OK -> ALARM transition)."
    )


def test_the_p90_latency_alarm_reads_percentiles_moto_cannot_give(stack):
    template, cloudwatch, recorder, evaluator, clock, _ = stack
    name = template.physical("ApiLatencyAlarm").ref
    threshold = float(template.parameters["ApiLatencyAlarmMs"])
    for period in range(3):
        clock.set(T0 + timedelta(minutes=5 * period, seconds=30))
        # 8 quick answers and 2 over the threshold: the average stays under it, the 90th percentile does not
        latencies = [50.0] * 8 + [threshold + 1000] * 2
        data = [gateway(template, "Latency", value, "Milliseconds") for value in latencies]
        recorder.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data)
    assert sum(latencies) / len(latencies) < threshold
    assert evaluator.evaluate()[name] == ALARM
    assert state_of(cloudwatch, name)["StateValue"] == ALARM


def test_the_low_confidence_share_alarm_evaluates_its_metric_math(stack):
    template, cloudwatch, recorder, evaluator, clock, inbox = stack
    name = template.physical("LowConfidenceAlarm").ref
    dimensions = [{"Name": "StatusCode", "Value": "200"}, {"Name": "service", "Value": "dogbreeds"}]
    clock.set(T0 + timedelta(minutes=20))

    def answered(images: int, low: int) -> None:
        data = [
            {"MetricName": "ImagesLabelled", "Dimensions": dimensions, "Value": images, "Unit": "Count"},
            {"MetricName": "LowConfidenceImages", "Dimensions": dimensions, "Value": low, "Unit": "Count"},
        ]
        recorder.put_metric_data(Namespace="DogBreeds", MetricData=data)

    for _ in range(19):
        answered(1, 1)
    assert evaluator.evaluate()[name] == OK  # all low, but under 20 images: the share is 0 by the template's IF
    answered(1, 1)
    assert evaluator.evaluate()[name] == ALARM
    (message,) = [json.loads(text) for text in inbox() if json.loads(text)["NewStateValue"] == ALARM]
    assert message["AlarmName"] == name
    assert [metric["Id"] for metric in message["Trigger"]["Metrics"]] == ["low", "labelled", "share"]
    assert message["Trigger"]["Period"] == 3600
    assert state_of(cloudwatch, name)["StateReason"].startswith(
        "Threshold Crossed: 1 out of the last 1 datapoint [1.0 (03/12/26 10:00:00)] was greater than the threshold"
    )


def test_without_any_datapoint_the_alarms_follow_their_treat_missing_data(stack):
    template, cloudwatch, _, evaluator, clock, inbox = stack
    clock.set(T0)
    states = evaluator.evaluate()
    assert set(states.values()) == {OK}  # every alarm of the template treats missing data as notBreaching
    name = template.physical("ApiServerErrorsAlarm").ref
    assert state_of(cloudwatch, name)["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as "
        "[NonBreaching]."
    )
    # the endpoint's alarm has no actions: three OK notifications, from INSUFFICIENT_DATA
    messages = [json.loads(text) for text in inbox()]
    assert sorted(message["AlarmName"] for message in messages) == sorted(
        template.physical(logical_id).ref
        for logical_id in ("ApiServerErrorsAlarm", "ApiLatencyAlarm", "LowConfidenceAlarm")
    )
    assert {(message["OldStateValue"], message["NewStateValue"]) for message in messages} == {(INSUFFICIENT_DATA, OK)}


def test_an_alarm_the_twin_cannot_evaluate_keeps_its_state_and_is_named(stack):
    _, cloudwatch, _, evaluator, clock, _ = stack
    cloudwatch.put_metric_alarm(
        AlarmName="filled", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"},
                                                                    "Period": 60, "Stat": "Sum"}},
                 {"Id": "e1", "Expression": "FILL(m1, 0)", "ReturnData": True}],
    )  # fmt: skip
    clock.set(T0)
    before = state_of(cloudwatch, "filled")["StateValue"]
    assert evaluator.evaluate()["filled"] == before
    assert "the function FILL is not supported" in evaluator.unsupported["filled"]
