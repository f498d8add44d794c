"""POST /predict: an image in, labelled dog breeds out (API Gateway REST proxy -> SageMaker endpoint).

Thin: request.py checks what the client sent, endpoint.py calls the endpoint and maps its failures.
No torch or numpy here, so cold starts stay small. Every answer, error or not, is JSON; observations.py says
what each answer adds to the metrics and the log.
"""

import time
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.logging import correlation_paths

from predict import endpoint, observations, prediction_log, settings
from predict.request import RequestError, parse_request

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # not patch_all: it imports every library it could patch
metrics = Metrics()
app = APIGatewayRestResolver(
    cors=CORSConfig(allow_origin=settings.cors_allow_origin(), expose_headers=["Retry-After"], max_age=300)
)

JSON = content_types.APPLICATION_JSON
ERROR_SCHEMA = {
    "type": "object",
    "required": ["message", "statusCode"],
    "properties": {"message": {"type": "string"}, "statusCode": {"type": "integer"}},
}
PREDICTION_SCHEMA = {
    "type": "object",
    "required": ["label", "probability"],
    "properties": {"label": {"type": "string"}, "probability": {"type": "number", "minimum": 0, "maximum": 1}},
}
SUCCESS_SCHEMA = {
    "type": "object",
    "required": ["predictions", "endpoint"],
    "properties": {
        "predictions": {
            "description": 'top-k breeds, most likely first; for {"images": [...]} one such list per image',
            "type": "array",
            "items": {"oneOf": [PREDICTION_SCHEMA, {"type": "array", "items": PREDICTION_SCHEMA}]},
        },
        "endpoint": {"type": "string", "description": "the SageMaker endpoint that answered"},
        "variant": {"type": "string", "description": "its production variant"},
        "model": {"type": "string", "description": "the model's version (the training job that made it)"},
    },
}
ERROR_RESPONSES = {
    400: "malformed JSON or base64, empty body, not a JPEG/PNG image, bad top_k, or the model refused the image",
    413: "body, images or batch too large for the endpoint type (the message names the limit)",
    415: "missing or unsupported Content-Type",
    429: "throttled (Retry-After)",
    502: "the model raised an error or answered something else than predictions",
    503: "the endpoint is warming up (cold start), does not exist or is not InService yet (Retry-After)",
}
RESPONSES = {200: {"description": "top-k breeds", "content": {JSON: {"schema": SUCCESS_SCHEMA}}}} | {
    status: {"description": text, "content": {JSON: {"schema": ERROR_SCHEMA}}}
    for status, text in ERROR_RESPONSES.items()
}


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status_code,
        content_type=JSON,
        body={"message": message, "statusCode": status_code},
        headers=headers or {},
    )


@app.exception_handler(RequestError)
def refuse_request(error: RequestError) -> Response:
    logger.info("request refused", extra={"status": error.status_code, "reason": error.message})
    observations.record_refusal(error.status_code, error.cause)
    return error_response(error.status_code, error.message)


@app.exception_handler(endpoint.EndpointError)
def report_endpoint_failure(error: endpoint.EndpointError) -> Response:
    logger.warning(
        "endpoint call failed",
        extra={"status": error.status_code, "reason": error.message, "detail": error.detail},
        exc_info=error.__cause__,
    )
    observations.record_refusal(error.status_code, error.cause)
    return error_response(error.status_code, error.message, error.headers)


@app.exception_handler(Exception)
def report_bug(error: Exception) -> Response:
    """Our own bug, never the client's: still a JSON answer, with the request id to find the logs."""
    logger.exception("unhandled error")
    observations.record_refusal(500, "InternalError")
    return error_response(500, f"internal error; request id {app.current_event.request_context.request_id}")


@app.not_found
def unknown_route(_error) -> Response:
    observations.record_refusal(404, "NoSuchRoute")
    return error_response(404, "no such route: POST /predict is the only one")


# No @tracer.capture_method here: it would log every refused request as an error. The handler's segment and
# the InvokeEndpoint subsegment (botocore is patched by Tracer) trace the call.
@app.post("/predict", summary="Label the dog breed(s) in an image", responses=RESPONSES, tags=["predict"])
def predict() -> dict:
    event = app.current_event
    request = parse_request(
        event.headers.get("content-type"),
        event.body,
        event.is_base64_encoded,
        (event.query_string_parameters or {}).get("top_k"),
        settings.serverless_endpoint(),
    )
    started = time.perf_counter()
    answer = endpoint.invoke(request)
    endpoint_ms = (time.perf_counter() - started) * 1000
    observations.record_answer(metrics, answer.predictions, endpoint_ms, settings.low_confidence_threshold())
    if observations.sampled(settings.prediction_log_sample_rate()):
        observations.log_labels(logger, answer.predictions, answer.variant, answer.model)
        log_prediction(request, answer)
    predictions = answer.predictions if request.batch else answer.predictions[0]
    answered = {"predictions": predictions, "endpoint": settings.endpoint_name(), "variant": answer.variant}
    return answered | ({"model": answer.model} if answer.model else {})


def log_prediction(request, answer: endpoint.EndpointAnswer) -> None:
    bucket, prefix = settings.prediction_log_location()
    try:
        request_id = app.current_event.request_context.request_id
        entry = prediction_log.record(request_id, datetime.now(UTC), request, answer, settings.endpoint_name())
        prediction_log.write(bucket, prefix, entry, request, settings.prediction_log_images())
    except Exception:  # the client still gets its answer
        logger.exception("writing the prediction log failed", extra={"bucket": bucket})
        observations.record_log_failure()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context) -> dict:
    started = time.perf_counter()
    response = app.resolve(event, context)
    observations.record_request(metrics, response["statusCode"], (time.perf_counter() - started) * 1000)
    tracer.put_annotation(key="StatusCode", value=str(response["statusCode"]))
    return response
