"""POST /predict: an image in, labelled dog breeds out (API Gateway REST proxy -> SageMaker endpoint).

Thin: request.py checks what the client sent, endpoint.py calls the endpoint and maps its failures.
No torch or numpy here, so cold starts stay small.
"""

import os
import time

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from predict import endpoint
from predict.request import RequestError, parse_request

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(
    cors=CORSConfig(allow_origin=os.environ.get("CORS_ALLOW_ORIGIN", "*"), allow_headers=["x-api-key"], max_age=300)
)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}, "statusCode": {"type": "integer"}},
}
PREDICTION_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "probability": {"type": "number"}},
}
SUCCESS_SCHEMA = {
    "type": "object",
    "properties": {
        "predictions": {
            "description": "one list per image for a batch ({'images': [...]}), else one list",
            "type": "array",
            "items": {"oneOf": [PREDICTION_SCHEMA, {"type": "array", "items": PREDICTION_SCHEMA}]},
        },
        "endpoint": {"type": "string"},
        "variant": {"type": "string"},
    },
}
ERROR_RESPONSES = {
    400: "malformed JSON or base64, empty body, not a JPEG/PNG image, bad top_k",
    413: "body or batch too large",
    415: "missing or unsupported Content-Type",
    429: "throttled",
    502: "the model raised an error",
    503: "the endpoint does not exist or is not InService yet (Retry-After)",
    504: "the endpoint timed out",
}
JSON = content_types.APPLICATION_JSON
RESPONSES = {200: {"description": "top-k breeds", "content": {JSON: {"schema": SUCCESS_SCHEMA}}}}
RESPONSES |= {
    status: {"description": text, "content": {JSON: {"schema": ERROR_SCHEMA}}}
    for status, text in ERROR_RESPONSES.items()
}


def error_response(status_code: int, message: str, headers: dict | None = None) -> Response:
    metrics.add_metadata("error", message)
    return Response(
        status_code=status_code,
        content_type=JSON,
        body={"message": message, "statusCode": status_code},
        headers=headers or {},
    )


@app.exception_handler(RequestError)
def handle_bad_request(error: RequestError) -> Response:
    logger.info("request refused", extra={"status": error.status_code, "reason": error.message})
    return error_response(error.status_code, error.message)


@app.exception_handler(endpoint.EndpointError)
def handle_endpoint_error(error: endpoint.EndpointError) -> Response:
    logger.warning("endpoint call failed", extra={"status": error.status_code, "reason": error.message})
    return error_response(error.status_code, error.message, error.headers)


@app.not_found
def handle_not_found(_error) -> Response:
    return error_response(404, "no such route: POST /predict is the only one")


@app.post("/predict", summary="Label the dog breed(s) in an image", responses=RESPONSES, tags=["predict"])
@tracer.capture_method
def predict() -> dict:
    event = app.current_event
    request = parse_request(
        event.headers.get("content-type") or event.headers.get("Content-Type"),
        event.body,
        event.is_base64_encoded,
        (event.query_string_parameters or {}).get("top_k"),
    )
    started = time.perf_counter()
    answer = endpoint.invoke(request.endpoint_body())
    latency_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="ImagesLabelled", unit=MetricUnit.Count, value=len(request.images))
    predictions = answer.predictions if request.batch else answer.predictions[0]
    return {"predictions": predictions, "endpoint": endpoint.endpoint_name(), "variant": answer.variant}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    response = app.resolve(event, context)
    metrics.add_metric(name=f"Status{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
    return response
