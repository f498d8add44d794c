"""What each answer of POST /predict tells CloudWatch: metrics (embedded metric format, through Powertools) and a
sampled log line of the labels given.

Every request: ``Requests`` and ``RequestLatency`` (the whole request, in the function), by ``StatusCode``.
An answered request adds ``EndpointLatency`` (the InvokeEndpoint call), ``ImagesLabelled``, ``TopConfidence``
(each image's top-1 probability, one value per image) and ``LowConfidenceImages`` (top-1 below
LOW_CONFIDENCE_THRESHOLD; over ImagesLabelled, the low-confidence share). A refused one adds ``ClientErrors``
(4xx) or ``ServerErrors`` (5xx) by ``Cause``, a few fixed names (request.py, endpoint.py): throttles are
ClientErrors{Cause=Throttled}, cold starts ServerErrors{Cause=WarmingUp}.

The predicted breed is no dimension (133 breeds would be 133 billed metrics): it goes to the ``labelled`` log
line, written for the sampled share PREDICTION_LOG_SAMPLE_RATE of the answered requests (CloudWatch Logs Insights
counts them by label), the same requests prediction_log.py writes to S3.
"""

import random
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

CAUSE = "Cause"


def record_request(metrics: Metrics, status: int, latency_ms: float) -> None:
    metrics.add_dimension(name="StatusCode", value=str(status))
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RequestLatency", unit=MetricUnit.Milliseconds, value=latency_ms)


def record_answer(metrics: Metrics, predictions: list[list[dict]], endpoint_ms: float, threshold: float) -> None:
    """``predictions``: one ranked list per image, most likely first."""
    top = [ranking[0]["probability"] for ranking in predictions]
    metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds, value=endpoint_ms)
    metrics.add_metric(name="ImagesLabelled", unit=MetricUnit.Count, value=len(predictions))
    for probability in top:
        metrics.add_metric(name="TopConfidence", unit=MetricUnit.NoUnit, value=probability)
    low = sum(probability < threshold for probability in top)
    metrics.add_metric(name="LowConfidenceImages", unit=MetricUnit.Count, value=low)


def record_refusal(status: int, cause: str) -> None:
    """Its own EMF record: the Cause dimension is the refusal's, not every metric's of the request."""
    name = "ClientErrors" if status < 500 else "ServerErrors"
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name=CAUSE, value=cause)


def sampled(sample_rate: float, draw: Callable[[], float] = random.random) -> bool:
    """Whether this request is one of the share ``sample_rate`` whose answer is logged."""
    return draw() < sample_rate


def log_labels(logger: Logger, predictions: list[list[dict]], variant: str | None, model: str | None) -> None:
    """The ``labelled`` line: each image's top-1 label and probability, and which variant and model answered."""
    labels = [{"label": ranking[0]["label"], "probability": ranking[0]["probability"]} for ranking in predictions]
    logger.info("labelled", extra={"labels": labels, "variant": variant, "model": model})


def record_log_failure() -> None:
    with single_metric(name="PredictionLogFailures", unit=MetricUnit.Count, value=1):
        pass
