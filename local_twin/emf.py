"""What CloudWatch Logs does with a Lambda's log on AWS: every line in the embedded metric format becomes metrics.

A function's code (Powertools' Metrics) prints EMF records; on AWS, CloudWatch Logs extracts their metrics, and
nothing in the function calls PutMetricData. The twin's functions write to log files (lambda_runtime.py), so after
each invocation ``LogMetrics.extract`` reads the lines the function added and puts each record's metrics into the
twin's CloudWatch (moto), as the service would: each metric once per dimension set, with its values, unit,
storage resolution and the record's timestamp. Lines that are not EMF (logs, START/END/REPORT) are skipped, as
CloudWatch skips them. No library reads EMF back (aws-embedded-metrics only writes it): the specification is
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit


def metric_data(record: dict) -> tuple[list[tuple[str, dict]], str | None]:
    """(namespace, MetricDatum) pairs of one EMF record; a problem instead when the record breaks the format."""
    directive = record.get("_aws")
    if not isinstance(directive, dict) or not isinstance(directive.get("CloudWatchMetrics"), list):
        return [], "no _aws.CloudWatchMetrics"
    if not isinstance(directive.get("Timestamp"), int | float):
        return [], "no _aws.Timestamp"
    timestamp = datetime.fromtimestamp(directive["Timestamp"] / 1000, UTC)
    data = []
    for group in directive["CloudWatchMetrics"]:
        for dimension_set in group.get("Dimensions") or [[]]:  # none: the metric without dimensions
            missing = [name for name in dimension_set if not isinstance(record.get(name), str)]
            if missing:
                return [], f"dimension(s) {missing} have no string value"
            dimensions = [{"Name": name, "Value": record[name]} for name in dimension_set]
            for metric in group["Metrics"]:
                values = record.get(metric["Name"])
                values = values if isinstance(values, list) else [values]
                if not values or not all(isinstance(value, int | float) for value in values):
                    return [], f"metric {metric['Name']!r} has no numeric value"
                datum = {
                    "MetricName": metric["Name"],
                    "Dimensions": dimensions,
                    "Timestamp": timestamp,
                    "Values": [float(value) for value in values],
                    "Unit": metric.get("Unit", "None"),
                    "StorageResolution": metric.get("StorageResolution", 60),
                }
                data.append((group["Namespace"], datum))
    return data, None


class LogMetrics:
    """The metrics in the functions' log files, put into CloudWatch as the lines arrive.

    ``cloudwatch`` is what takes PutMetricData: a CloudWatch client, or the twin's MetricRecorder (alarms.py), which
    keeps the values for the alarms too."""

    def __init__(self, cloudwatch):
        self.cloudwatch = cloudwatch
        self._read_to: dict[Path, int] = {}  # log file -> offset of the first line not read yet
        self._lock = threading.Lock()

    def extract(self, log_file: Path) -> int:
        """Put the metrics of the complete lines added to ``log_file`` since the last call; how many datums."""
        with self._lock:
            start = self._read_to.get(log_file, 0)
            with log_file.open("rb") as stream:
                stream.seek(start)
                added = stream.read()
            complete = added[: added.rfind(b"\n") + 1]  # a line still being written waits for the next call
            self._read_to[log_file] = start + len(complete)
        by_namespace: dict[str, list[dict]] = {}
        for line in complete.splitlines():
            if not line.startswith(b"{") or b'"_aws"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            data, problem = metric_data(record)
            if problem:  # CloudWatch drops such a record too (and would count it in the log group's errors)
                log.warning("%s: an EMF record CloudWatch would refuse (%s): %.200s", log_file.name, problem, line)
            for namespace, datum in data:
                by_namespace.setdefault(namespace, []).append(datum)
        for namespace, data in by_namespace.items():
            for first in range(0, len(data), MAX_DATUMS_PER_CALL):
                self.cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[first : first + MAX_DATUMS_PER_CALL]
                )
        return sum(len(data) for data in by_namespace.values())
