"""The Predict Lambda's configuration: the environment template.yaml gives PredictFunction.

functions/common/config.py does not exist yet, so this is the one place the proxy reads its own variables
(Powertools reads POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_LOG_LEVEL itself).
Read on each call, not at import: tests and the local twin set them per invocation.
"""

import os

# Every variable this function reads, with its default.
DEFAULTS = {
    "ENDPOINT_NAME": "",  # the SageMaker endpoint behind the API; never taken from the request
    "CORS_ALLOW_ORIGIN": "*",  # the browser origin allowed to call the API
}


def _read(name: str) -> str:
    return os.environ.get(name, DEFAULTS[name]).strip()


def endpoint_name() -> str:
    return _read("ENDPOINT_NAME")


def cors_allow_origin() -> str:
    return _read("CORS_ALLOW_ORIGIN")
