"""Stand-in handlers for tests/twin/test_lambda_runtime.py: each shows one thing Lambda does to a function."""

import os
import time


def describe(event, context):
    """What the function sees: its process, environment and context."""
    time.sleep(event.get("sleep", 0))
    names = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "LAMBDA_TASK_ROOT", "AWS_ACCESS_KEY_ID",
             "AWS_SESSION_TOKEN", "AWS_REGION", "TEMPLATE_VARIABLE", "TWIN_PROCESS_ONLY")  # fmt: skip
    return {
        "pid": os.getpid(),
        "environment": {name: os.environ.get(name) for name in names},
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "event": event,
    }


def sleep(event, context):
    time.sleep(event["seconds"])
    return "woke up"


def fail(event, context):
    raise ValueError(f"bad input: {event['value']}")


def exit_process(event, context):
    os._exit(3)


def wait_for_word(event, context):
    """Blocks until the test writes to the FIFO the event names: the test knows the handler is running meanwhile."""
    with open(event["fifo"]) as fifo:
        return fifo.read()


def count_metric(event, context):
    """Prints an embedded-metric-format record as Powertools' Metrics writes one, and returns at once."""
    from aws_lambda_powertools import Metrics

    metrics = Metrics(namespace="Probe", service="probe")
    metrics.add_metric(name="Seen", unit="Count", value=event["value"])
    metrics.flush_metrics()
    return "counted"
