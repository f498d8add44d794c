"""One Logger, Tracer and Metrics per function (configured from POWERTOOLS_* in the template) and the
decorator every step's handler wears: structured logs carry the execution's run id, errors are traced.
"""

from collections.abc import Callable
from functools import wraps

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()


def step_handler(function: Callable[[dict], dict]) -> Callable[[dict, object], dict]:
    """Wrap a step ``function(event) -> result`` as a Lambda handler."""

    @logger.inject_lambda_context(correlation_id_path="run_id", log_event=False)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    @wraps(function)
    def handler(event: dict, context) -> dict:
        logger.append_keys(run_id=event.get("run_id"))
        return function(event)

    return handler
