"""The Predict Lambda's configuration: the environment template.yaml gives PredictFunction.

functions/common/config.py does not exist yet, so this is the one place the proxy reads its own variables
(Powertools reads POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_LOG_LEVEL itself).
Read on each call, not at import: tests and the local twin set them per invocation. Literal names, so the
template tests' scan of os.environ reads finds them.
"""

import os


def endpoint_name() -> str:
    """The SageMaker endpoint behind the API; fixed server-side, never taken from the request."""
    return os.environ.get("ENDPOINT_NAME", "").strip()


def cors_allow_origin() -> str:
    """The browser origin allowed to call the API ("*" for any)."""
    return os.environ.get("CORS_ALLOW_ORIGIN", "*").strip()


def serverless_endpoint() -> bool:
    """Whether the endpoint is serverless (4 MB payloads, cold starts) or instance-backed (6 MB).

    The template's ServerlessInference parameter, the same one Deploy follows when it writes the endpoint's
    configuration: no DescribeEndpointConfig call (and no grant for it) on the request path. Unset means
    serverless, the template's default and the stricter limit.
    """
    return os.environ.get("SERVERLESS_INFERENCE", "true").strip().lower() != "false"


def low_confidence_threshold() -> float:
    """Below this top-1 probability an answer counts as low-confidence (the LowConfidenceImages metric)."""
    return float(os.environ.get("LOW_CONFIDENCE_THRESHOLD", "0.5"))


def prediction_log_sample_rate() -> float:
    """The share of answered requests logged (the labelled line, prediction_log.py's record), from 0 to 1."""
    return float(os.environ.get("PREDICTION_LOG_SAMPLE_RATE", "1"))


def prediction_log_location() -> tuple[str, str]:
    """(bucket, prefix) of the prediction log: the data bucket's predictions/ (template: BucketLayout)."""
    return os.environ.get("BUCKET_NAME", "").strip(), os.environ.get("PREDICTIONS_PREFIX", "predictions/").strip()


def prediction_log_images() -> bool:
    """Whether the sampled requests' images are kept too (the PredictionLogImages parameter, off by default)."""
    return os.environ.get("PREDICTION_LOG_IMAGES", "false").strip().lower() == "true"
