"""CloudWatch's alarm evaluation, on the twin: moto keeps the stack's alarms but never evaluates them.

The alarms are read from moto's CloudWatch (DescribeAlarms), their states written back with SetAlarmState, and a
state change is published, as CloudWatch's notification JSON, to each SNS topic among the alarm's actions for the
new state (AlarmActions, OKActions, InsufficientDataActions): the twin's inbox queue of the topic receives it.
moto's CloudWatch has no percentiles and no metric math, so the values come from the raw datums the twin itself puts
(``MetricRecorder``: both of the twin's put paths, the functions' EMF records and API Gateway's metrics, go through
it to moto's PutMetricData).

What is reproduced (CloudWatch user guide, "Alarm evaluation" and "Configuring how CloudWatch alarms treat missing
data"; the PutMetricAlarm API reference):

- each period's datapoint, periods aligned to multiples of the period since the epoch, the newest one holding the
  evaluation time: SampleCount, Sum, Average, Minimum, Maximum and percentiles pNN (nearest rank over every value
  put, counts included); a metric is its namespace, name and exact dimension set, and the alarm's Unit when it
  names one;
- metric-math alarms: MetricStat queries and expressions of ``+ - * /``, comparisons (``< <= > >= == !=``, 1 or 0)
  and ``IF(condition, a[, b])`` over their ids (parsed with ``ast`` against a whitelist, never ``eval``); anything
  else is refused with UnsupportedAlarm naming it;
- ComparisonOperator against Threshold, DatapointsToAlarm out of EvaluationPeriods (M of N; M defaults to N), and
  TreatMissingData (missing, the default; notBreaching; breaching; ignore) with the guide's rules, including its
  "premature alarm state" rule: the guide's two example tables are this module's tests;
- the alarm's state, reason and reason data, and its notification (AlarmName, AlarmDescription, AWSAccountId,
  NewStateValue, NewStateReason, StateChangeTime, Region, AlarmArn, OldStateValue, Trigger, the actions), the
  shape CloudWatch publishes.

What is not: the evaluation range is EvaluationPeriods + 2 periods (the guide's example; AWS's own number depends
on the period and the metric's resolution and is not documented); CloudWatch evaluates every minute, the twin after
each batch of metrics it puts (on its own thread, coalesced) and whenever ``evaluate()`` is called (a test does);
metrics the twin does not put itself (moto's own, another client's PutMetricData) are not seen; the local
SageMaker writes no AWS/SageMaker metrics, so an alarm on them only ever sees missing data; percentiles are exact
rather than CloudWatch's approximations; EvaluateLowSampleCountPercentile=ignore, anomaly-detection and composite
alarms, metric-math functions other than IF, and actions other than SNS topics are not evaluated (a logged
UnsupportedAlarm, the alarm keeps its state); the KMS key and topic policies that must let CloudWatch publish are
not checked; the reason's wording is modelled on AWS's, not guaranteed identical.
"""

import ast
import bisect
import json
import logging
import math
import operator
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import botocore.session

from local_twin.account import ACCOUNT_ID

log = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
MISSING, NOT_BREACHING, BREACHING, IGNORE = "missing", "notBreaching", "breaching", "ignore"
EXTRA_PERIODS_IN_RANGE = 2  # the guide's example: 3 evaluation periods, an evaluation range of 5
# What the twin keeps: AWS allows at most 7 days of EvaluationPeriods x Period (a day below an hour's period).
RETENTION = timedelta(days=8)
MAX_REASON = 1023  # SetAlarmState's StateReason limit
COMPARISONS = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
ACTIONS_FOR = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT_DATA: "InsufficientDataActions"}
PERCENTILE = re.compile(r"p(100(\.0+)?|\d{1,2}(\.\d+)?)")


class UnsupportedAlarm(ValueError):
    """An alarm (or a part of it) the twin's evaluator does not evaluate; the message says what."""


# --- time -----------------------------------------------------------------------------------------------------


class MetricClock:
    """The twin's time for metrics and alarms: the wall clock moved by ``offset``. A test sets it (``set``) to put
    API Gateway's datapoints into the periods it means and to evaluate the alarms then, without waiting for them.
    The functions' EMF records keep their own timestamps (their processes' clocks)."""

    def __init__(self):
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, when: datetime) -> None:
        self.offset = when - datetime.now(UTC)


def period_starts(now: datetime, period: int, count: int) -> list[datetime]:
    """The starts of the last ``count`` periods, oldest first, aligned to multiples of ``period`` seconds since the
    epoch: the newest holds ``now``."""
    newest = math.floor(now.timestamp() / period) * period
    return [datetime.fromtimestamp(newest - period * back, UTC) for back in range(count - 1, -1, -1)]


# --- the datums the twin puts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Datum:
    timestamp: datetime
    value: float
    count: float
    unit: str


def metric_key(namespace: str, name: str, dimensions: list[dict]) -> tuple:
    """A CloudWatch metric's identity: namespace, name and its whole dimension set."""
    return namespace, name, frozenset((dimension["Name"], dimension["Value"]) for dimension in dimensions or [])


class MetricRecorder:
    """The twin's PutMetricData: each call goes to moto's CloudWatch, and its datums are kept for the alarms.

    It takes PutMetricData's parameters, so code that puts metrics with a CloudWatch client takes this instead.
    A datum without a Timestamp gets the clock's now (for moto too, so both agree). ``on_put`` is called after
    each call (the evaluator schedules an evaluation)."""

    def __init__(self, cloudwatch, clock: MetricClock):
        self.cloudwatch = cloudwatch
        self.clock = clock
        self.on_put: Callable[[], None] = lambda: None
        self._series: dict[tuple, list[Datum]] = {}
        self._lock = threading.Lock()

    def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> None:  # the API's parameter names
        now = self.clock.now()
        data = [{"Timestamp": now} | datum for datum in MetricData]
        kept = [
            (metric_key(Namespace, datum["MetricName"], datum.get("Dimensions")), datums_of(datum)) for datum in data
        ]
        self.cloudwatch.put_metric_data(Namespace=Namespace, MetricData=data)  # after datums_of: all or nothing
        cutoff = now - RETENTION
        with self._lock:
            for key, datums in kept:
                series = self._series.setdefault(key, [])
                for datum in datums:  # in time order: the EMF lines' and the API's clocks interleave
                    bisect.insort(series, datum, key=lambda kept_datum: kept_datum.timestamp)
                del series[: bisect.bisect_left(series, cutoff, key=lambda kept_datum: kept_datum.timestamp)]
        self.on_put()

    def samples(self, key: tuple, start: datetime, end: datetime, unit: str | None = None) -> list[tuple[float, float]]:
        """(value, count) of each value put for the metric in [start, end), of ``unit`` when one is named."""
        with self._lock:
            series = self._series.get(key, [])
            window = series[
                bisect.bisect_left(series, start, key=lambda datum: datum.timestamp) : bisect.bisect_left(
                    series, end, key=lambda datum: datum.timestamp
                )
            ]
        return [(datum.value, datum.count) for datum in window if unit is None or datum.unit == unit]


def datums_of(datum: dict) -> list[Datum]:
    """A MetricDatum's values (Value, or Values with their Counts); StatisticValues carry no values to rank."""
    if "StatisticValues" in datum:
        raise UnsupportedAlarm(f"{datum['MetricName']}: StatisticValues cannot give percentiles; put the values")
    timestamp = datum["Timestamp"]
    timestamp = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    values = datum["Values"] if "Values" in datum else [datum["Value"]]
    counts = datum.get("Counts") or [1.0] * len(values)
    unit = datum.get("Unit", "None")
    return [Datum(timestamp, float(value), float(count), unit) for value, count in zip(values, counts, strict=True)]


# --- statistics -----------------------------------------------------------------------------------------------


def statistic(name: str, samples: list[tuple[float, float]]) -> float | None:
    """One period's statistic over its (value, count) samples; None when the period has none (a missing datapoint).
    pNN is the nearest rank: the smallest value with at least NN % of the samples at or below it."""
    if not samples:
        return None
    total = sum(count for _, count in samples)
    if name == "SampleCount":
        return total
    if name == "Sum":
        return sum(value * count for value, count in samples)
    if name == "Average":
        return sum(value * count for value, count in samples) / total
    if name == "Minimum":
        return min(value for value, _ in samples)
    if name == "Maximum":
        return max(value for value, _ in samples)
    if PERCENTILE.fullmatch(name):
        rank = max(1, math.ceil(float(name[1:]) / 100 * total))
        seen = 0.0
        for value, count in sorted(samples):
            seen += count
            if seen >= rank:
                return value
    raise UnsupportedAlarm(f"statistic {name!r}: the twin evaluates SampleCount, Sum, Average, Minimum, Maximum, pNN")


# --- metric math ----------------------------------------------------------------------------------------------

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}  # fmt: skip


class Expression:
    """A metric-math expression of one period's values (CloudWatch user guide, "Using metric math"): numbers, the
    ids of other queries, ``+ - * /``, comparisons (1 when true, else 0) and ``IF(condition, a[, b])``.

    A missing operand makes an arithmetic or comparison result missing, as does a division by zero. IF follows the
    guide's "Using IF expressions": a missing condition gives no point, a false condition without ``b`` neither; a
    branch that is a metric with no point there counts as 0, except a missing ``b`` beside a scalar ``a``."""

    def __init__(self, text: str, ids: set[str]):
        self.text = text
        try:
            self._tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as error:
            raise UnsupportedAlarm(f"metric math {text!r} does not parse: {error.msg}") from error
        self.references: set[str] = set()
        self._check(self._tree, ids)

    def _refuse(self, what: str):
        raise UnsupportedAlarm(
            f"metric math {self.text!r}: {what} is not supported by the twin's alarm evaluator "
            "(it evaluates numbers, query ids, + - * /, comparisons and IF(condition, a[, b]))"
        )

    def _check(self, node: ast.AST, ids: set[str]) -> None:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                self._refuse(f"the constant {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in ids:
                self._refuse(f"{node.id!r} (no query of the alarm has that id)")
            self.references.add(node.id)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            self._check(node.left, ids)
            self._check(node.right, ids)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            self._check(node.operand, ids)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            self._check(node.left, ids)
            self._check(node.comparators[0], ids)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id != "IF":
                self._refuse(f"the function {node.func.id}")
            if node.keywords or len(node.args) not in (2, 3):
                self._refuse("IF without 2 or 3 arguments")
            for argument in node.args:
                self._check(argument, ids)
        else:
            self._refuse(f"the syntax {ast.unparse(node)!r}")

    def value(self, values: dict[str, float | None]) -> float | None:
        return self._value(self._tree, values)

    def _value(self, node: ast.AST, values: dict[str, float | None]) -> float | None:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.UnaryOp):
            operand = self._value(node.operand, values)
            return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
        if isinstance(node, ast.BinOp):
            left, right = self._value(node.left, values), self._value(node.right, values)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            left, right = self._value(node.left, values), self._value(node.comparators[0], values)
            return None if left is None or right is None else float(_COMPARE[type(node.ops[0])](left, right))
        condition = self._value(node.args[0], values)  # IF, the only call _check lets through
        if condition is None:
            return None
        if condition:
            chosen = self._value(node.args[1], values)
            return 0.0 if chosen is None else chosen
        if len(node.args) == 2:
            return None
        chosen = self._value(node.args[2], values)
        if chosen is None and not _is_scalar(node.args[1]):
            return 0.0
        return chosen


def _is_scalar(node: ast.AST) -> bool:
    return not any(isinstance(part, ast.Name) for part in ast.walk(node))


# --- the state ------------------------------------------------------------------------------------------------


def alarm_state(points: list[bool | None], evaluation_periods: int, datapoints_to_alarm: int, treat_missing: str):
    """The state CloudWatch gives an alarm whose evaluation range holds ``points`` (oldest first; True breaching,
    False not, None missing); None keeps the current state. The rules of the guide's "How alarm state is evaluated
    when data is missing":

    - with at least N real points, the most recent N decide: M of them breaching is ALARM, else OK;
    - with none, TreatMissingData decides: INSUFFICIENT_DATA, OK, ALARM, or (ignore) the current state;
    - otherwise every real point is evaluated with as few missing ones as make N, the most recent: breaching and
      notBreaching fill them in. With missing and ignore, M breaching real points are ALARM; only breaching and
      missing points with the oldest breaching one at least M periods old is ALARM ("premature alarm state"; with
      ignore the state stays); a non-breaching real point is OK. Whatever the guide leaves open (breaching points
      too recent for the rule) keeps the current state: the guide says only that the alarm does not go to ALARM.
    """
    real = [point for point in points if point is not None]
    if len(real) >= evaluation_periods:
        return ALARM if sum(real[-evaluation_periods:]) >= datapoints_to_alarm else OK
    if not real:
        return {MISSING: INSUFFICIENT_DATA, NOT_BREACHING: OK, BREACHING: ALARM, IGNORE: None}[treat_missing]
    missing_slots = [index for index, point in enumerate(points) if point is None]
    filled = set(missing_slots[len(missing_slots) - (evaluation_periods - len(real)) :])
    window = [point for index, point in enumerate(points) if point is not None or index in filled]
    if treat_missing in (BREACHING, NOT_BREACHING):
        breaching = sum(treat_missing == BREACHING if point is None else point for point in window)
        return ALARM if breaching >= datapoints_to_alarm else OK
    if sum(real) >= datapoints_to_alarm:
        return ALARM
    if False in window:
        return OK
    oldest_breaching_age = len(window) - window.index(True)
    if oldest_breaching_age >= datapoints_to_alarm and treat_missing == MISSING:
        return ALARM
    return None


# --- evaluating the stack's alarms ----------------------------------------------------------------------------


@dataclass
class Evaluated:
    """One evaluation of one alarm: its period's datapoints (start, value) oldest first, and the state they give
    (None: the current one stays)."""

    state: str | None
    datapoints: list[tuple[datetime, float | None]]
    breaching: list[bool | None]


def _number(value: float) -> str:
    return repr(float(value))


def _when(moment: datetime) -> str:
    return moment.strftime("%d/%m/%y %H:%M:%S")


def region_name(region: str) -> str:
    """'US East (N. Virginia)' for us-east-1, as CloudWatch names the region in its notifications (botocore's
    endpoint data)."""
    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return partition["regions"][region]["description"]
    return region


class AlarmEvaluator:
    """Evaluates the alarms moto holds, as CloudWatch would: ``evaluate()`` now (a test), ``schedule()`` on the
    evaluator's own thread (after each batch the recorder puts; several batches make one evaluation)."""

    def __init__(self, cloudwatch, sns, recorder: MetricRecorder, clock: MetricClock, region: str):
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.recorder = recorder
        self.clock = clock
        self.region = region
        self.unsupported: dict[str, str] = {}  # alarm name -> why it is not evaluated (logged once)
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="twin-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def schedule(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping:
                return
            self._wanted.clear()
            try:
                self.evaluate()
            except Exception:  # the twin goes on; the next batch tries again
                log.exception("evaluating the alarms failed")

    def evaluate(self) -> dict[str, str]:
        """Evaluate every metric alarm now (the clock's now); returns each alarm's state afterwards."""
        with self._lock:
            now = self.clock.now()
            states = {}
            for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
                for alarm in page["MetricAlarms"]:
                    states[alarm["AlarmName"]] = self._evaluate_alarm(alarm, now)
            return states

    def _evaluate_alarm(self, alarm: dict, now: datetime) -> str:
        name, current = alarm["AlarmName"], alarm["StateValue"]
        try:
            evaluated = self.evaluation(alarm, now)
        except UnsupportedAlarm as error:
            if name not in self.unsupported:
                log.warning("alarm %s is not evaluated on the twin: %s", name, error)
            self.unsupported[name] = str(error)
            return current
        except Exception:  # one alarm the evaluator gets wrong leaves the others evaluated
            log.exception("evaluating alarm %s failed", name)
            return current
        if evaluated.state is None or evaluated.state == current:
            return current
        reason = self.reason(alarm, evaluated)
        if alarm.get("ActionsEnabled", True):  # first: a failed publish leaves the state to change again next time
            self._notify(alarm, current, evaluated.state, reason, now)
        self.cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue=evaluated.state,
            StateReason=reason[:MAX_REASON],
            StateReasonData=json.dumps(self.reason_data(alarm, evaluated, now)),
        )
        return evaluated.state

    def evaluation(self, alarm: dict, now: datetime) -> Evaluated:
        """The alarm's datapoints over its evaluation range ending now, and the state they give."""
        if "ThresholdMetricId" in alarm or alarm["ComparisonOperator"] not in COMPARISONS:
            raise UnsupportedAlarm(f"comparison {alarm['ComparisonOperator']} (anomaly detection)")
        if alarm.get("EvaluateLowSampleCountPercentile") == "ignore":
            raise UnsupportedAlarm("EvaluateLowSampleCountPercentile=ignore")
        n = alarm["EvaluationPeriods"]
        values = self._series(alarm, now, n + EXTRA_PERIODS_IN_RANGE)
        compare = COMPARISONS[alarm["ComparisonOperator"]][0]
        breaching = [None if value is None else compare(value, alarm["Threshold"]) for _, value in values]
        treat = alarm.get("TreatMissingData") or MISSING
        state = alarm_state(breaching, n, alarm.get("DatapointsToAlarm") or n, treat)
        return Evaluated(state, values, breaching)

    def _series(self, alarm: dict, now: datetime, count: int) -> list[tuple[datetime, float | None]]:
        """The alarm's value in each of the last ``count`` periods (None: missing)."""
        if not alarm.get("Metrics"):
            period = alarm["Period"]
            key = metric_key(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions"))
            stat = alarm.get("Statistic") or alarm["ExtendedStatistic"]
            unit = alarm.get("Unit")
            series = []
            for start in period_starts(now, period, count):
                samples = self.recorder.samples(key, start, start + timedelta(seconds=period), unit)
                series.append((start, statistic(stat, samples)))
            return series
        queries = {query["Id"]: query for query in alarm["Metrics"]}
        periods = {query["MetricStat"]["Period"] for query in queries.values() if "MetricStat" in query}
        if len(periods) != 1:
            raise UnsupportedAlarm(f"metric math over periods {sorted(periods)}: CloudWatch wants one period")
        period = periods.pop()
        expressions = {
            qid: Expression(q["Expression"], set(queries)) for qid, q in queries.items() if "Expression" in q
        }
        returned = [qid for qid, query in queries.items() if query.get("ReturnData", True)]
        if len(returned) != 1:
            raise UnsupportedAlarm(f"metric math returning {len(returned)} series: an alarm needs exactly one")
        (returned,) = returned
        series = []
        for start in period_starts(now, period, count):
            end = start + timedelta(seconds=period)
            values: dict[str, float | None] = {}
            for qid, query in queries.items():
                if "MetricStat" in query:
                    stat = query["MetricStat"]
                    metric = stat["Metric"]
                    key = metric_key(metric["Namespace"], metric["MetricName"], metric.get("Dimensions"))
                    values[qid] = statistic(stat["Stat"], self.recorder.samples(key, start, end, stat.get("Unit")))
            series.append((start, _resolve(returned, expressions, values, set())))
        return series

    def reason(self, alarm: dict, evaluated: Evaluated) -> str:
        """The state's reason, in the words CloudWatch uses for it."""
        n = alarm["EvaluationPeriods"]
        points = zip(evaluated.datapoints, evaluated.breaching, strict=True)
        real = [(start, value, hit) for (start, value), hit in points if value is not None]
        if not real:
            if evaluated.state == INSUFFICIENT_DATA:
                return f"Insufficient Data: {n} datapoint{'s were' if n > 1 else ' was'} unknown."
            treated = "Breaching" if evaluated.state == ALARM else "NonBreaching"
            return (
                f"Threshold Crossed: no datapoints were received for {n} period{'s' if n > 1 else ''} and {n} "
                f"missing datapoint{'s were' if n > 1 else ' was'} treated as [{treated}]."
            )
        m = alarm.get("DatapointsToAlarm") or n
        recent = list(reversed(real[-n:]))  # newest first, as CloudWatch lists them
        # ALARM lists the breaching points; OK the others, or, when missing points made it OK, the breaching ones
        # that were too few
        listed_breaching = evaluated.state == ALARM or all(hit for _, _, hit in recent)
        listed = [(start, value) for start, value, hit in recent if hit == listed_breaching]
        if listed_breaching:
            negation, minimum, transition = "", m, "OK -> ALARM"
        else:
            negation, minimum, transition = "not ", n - m + 1, "ALARM -> OK"
        listing = ", ".join(f"{_number(value)} ({_when(start)})" for start, value in listed)
        relation = COMPARISONS[alarm["ComparisonOperator"]][1]
        return (
            f"Threshold Crossed: {len(listed)} out of the last {n} datapoint{'s' if n > 1 else ''} [{listing}] "
            f"{'were' if len(listed) > 1 else 'was'} {negation}{relation} the threshold "
            f"({_number(alarm['Threshold'])}) (minimum {minimum} datapoint{'s' if minimum > 1 else ''} for "
            f"{transition} transition)."
        )

    def reason_data(self, alarm: dict, evaluated: Evaluated, now: datetime) -> dict:
        stamp = "%Y-%m-%dT%H:%M:%S.000+0000"
        data = {
            "version": "1.0",
            "queryDate": now.strftime(stamp),
            "startDate": evaluated.datapoints[0][0].strftime(stamp),
            "recentDatapoints": [value for _, value in evaluated.datapoints if value is not None],
            "threshold": alarm["Threshold"],
            "evaluatedDatapoints": [
                {"timestamp": start.strftime(stamp), "value": value}
                for start, value in reversed(evaluated.datapoints[-alarm["EvaluationPeriods"] :])
                if value is not None
            ],
        }
        if not alarm.get("Metrics"):
            data |= {"statistic": alarm.get("Statistic") or alarm["ExtendedStatistic"], "period": alarm["Period"]}
        return data

    def _notify(self, alarm: dict, old: str, new: str, reason: str, now: datetime) -> None:
        topics = [arn for arn in alarm.get(ACTIONS_FOR[new], []) if arn.split(":")[2:3] == ["sns"]]
        for arn in alarm.get(ACTIONS_FOR[new], []):
            if arn not in topics:
                log.warning("alarm %s: the twin performs SNS actions only, not %s", alarm["AlarmName"], arn)
        if not topics:
            return
        message = json.dumps(notification(alarm, old, new, reason, now, self.region))
        subject = f'{new}: "{alarm["AlarmName"]}" in {region_name(self.region)}'[:100]  # SNS: at most 100
        for arn in topics:
            self.sns.publish(TopicArn=arn, Subject=subject, Message=message)


def _resolve(qid: str, expressions: dict[str, Expression], values: dict, resolving: set[str]) -> float | None:
    """The value of query ``qid`` in one period: a MetricStat's is given, an expression's computed from its ids."""
    if qid in values:
        return values[qid]
    if qid in resolving:
        raise UnsupportedAlarm(f"metric math: {qid!r} refers to itself")
    expression = expressions[qid]
    for reference in expression.references:
        _resolve(reference, expressions, values, resolving | {qid})
    values[qid] = expression.value(values)
    return values[qid]


def _lower_dimensions(dimensions: list[dict] | None) -> list[dict]:
    return [{"value": dimension["Value"], "name": dimension["Name"]} for dimension in dimensions or []]


def trigger(alarm: dict) -> dict:
    """The notification's Trigger: what the alarm watches and how it compares."""
    common = {
        "Period": alarm.get("Period"),
        "EvaluationPeriods": alarm["EvaluationPeriods"],
        "DatapointsToAlarm": alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"],
        "ComparisonOperator": alarm["ComparisonOperator"],
        "Threshold": alarm["Threshold"],
        "TreatMissingData": alarm.get("TreatMissingData") or "",
        "EvaluateLowSampleCountPercentile": alarm.get("EvaluateLowSampleCountPercentile") or "",
    }
    if alarm.get("Metrics"):
        metrics = []
        for query in alarm["Metrics"]:
            entry = {key: query[key] for key in ("Id", "Expression", "Label", "ReturnData") if key in query}
            if "MetricStat" in query:
                stat = query["MetricStat"]
                metric = stat["Metric"]
                dimensions = _lower_dimensions(metric.get("Dimensions"))
                watched = {
                    "Dimensions": dimensions,
                    "MetricName": metric["MetricName"],
                    "Namespace": metric["Namespace"],
                }
                entry["MetricStat"] = {"Metric": watched, "Period": stat["Period"], "Stat": stat["Stat"]}
            metrics.append(entry)
        common["Period"] = alarm.get("Period") or alarm["Metrics"][0].get("MetricStat", {}).get("Period")
        return common | {"Metrics": metrics}
    if alarm.get("Statistic"):
        statistic_type = {"StatisticType": "Statistic", "Statistic": alarm["Statistic"].upper()}
    else:
        statistic_type = {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm["ExtendedStatistic"]}
    return {
        "MetricName": alarm["MetricName"],
        "Namespace": alarm["Namespace"],
        **statistic_type,
        "Unit": alarm.get("Unit"),
        "Dimensions": _lower_dimensions(alarm.get("Dimensions")),
        **common,
    }


def notification(alarm: dict, old: str, new: str, reason: str, now: datetime, region: str) -> dict:
    """The JSON CloudWatch publishes to an alarm's SNS topics when its state changes (the shape of the messages
    CloudWatch sends: AlarmName ... Trigger; SNS developer guide's CloudWatch examples)."""
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.get("AlarmConfigurationUpdatedTimestamp")),
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": _iso(now),
        "Region": region_name(region),
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": old,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": trigger(alarm),
    }


def _iso(moment: datetime | None) -> str | None:
    """CloudWatch's notification time format: 2019-06-26T03:54:21.746+0000."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
