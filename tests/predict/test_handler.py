"""The Predict Lambda end to end through its handler: exact endpoint requests, every status and message."""

import base64
import io
import json

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from model_code.serving_limits import MAX_BATCH_IMAGES
from tests.support.predict_lambda import ENDPOINT, endpoint_reply, load_event, stubbed_runtime, with_headers

PREDICTIONS = [[{"label": "Beagle", "probability": 0.9}, {"label": "Basset_hound", "probability": 0.05}]]
# What the model answers a raw image: its whole top 10, most likely first.
RANKING = [{"label": f"Breed {rank}", "probability": round(0.5**rank, 6)} for rank in range(1, 11)]


def expected_request(images: list[str], top_k: int, batch: bool) -> dict:
    """InvokeEndpoint exactly as inference.py's contract wants it: one image raw, a batch as JSON with top_k."""
    if not batch:
        (image,) = images
        raw = base64.b64decode(image)
        content_type = "image/png" if raw.startswith(b"\x89PNG") else "image/jpeg"
        return {"EndpointName": ENDPOINT, "ContentType": content_type, "Accept": "application/json", "Body": raw}
    return {
        "EndpointName": ENDPOINT,
        "ContentType": "application/json",
        "Accept": "application/json",
        "Body": json.dumps({"images": images, "top_k": top_k}).encode(),
    }


def test_binary_jpeg_is_forwarded_raw_and_its_ranking_cut_to_top_k(handler, runtime):
    event = load_event("binary_jpeg")  # ?top_k=3
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply(RANKING), expected_request([event["body"]], 3, batch=False))
    runtime(client)
    with stub:
        status, headers, body = handler(event)
    stub.assert_no_pending_responses()
    assert status == 200
    assert body == {"predictions": RANKING[:3], "endpoint": ENDPOINT, "variant": "AllTraffic"}
    assert headers["Content-Type"] == "application/json"


def x_image_event() -> dict:
    event = load_event("binary_png")
    return with_headers(event, event["headers"] | {"Content-Type": "application/x-image"})


@pytest.mark.parametrize(
    ("event", "top_k", "batch"),
    [
        pytest.param(load_event("binary_png"), 5, False, id="binary_png"),
        pytest.param(x_image_event(), 5, False, id="x_image"),
        pytest.param(load_event("json_base64"), 2, False, id="json_base64"),
        pytest.param(load_event("json_batch"), 5, True, id="json_batch"),
    ],
)
def test_each_accepted_request_shape(handler, runtime, event, top_k, batch):
    if event["headers"]["Content-Type"] == "application/json":
        payload = json.loads(event["body"])
        encoded = payload["images"] if batch else [payload["image"]]
    else:
        encoded = [event["body"]]
    replies = [RANKING[:top_k]] * len(encoded) if batch else RANKING
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply(replies), expected_request(encoded, top_k, batch))
    runtime(client)
    with stub:
        status, _, body = handler(event)
    stub.assert_no_pending_responses()
    assert status == 200
    assert body["predictions"] == (replies if batch else RANKING[:top_k])
    assert len(encoded) == (2 if batch else 1)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("bad_empty_body", 400, "empty body: send an image"),
        ("bad_not_an_image", 400, "body is not a JPEG or PNG image"),
        ("bad_malformed_json", 400, "malformed JSON: Expecting"),
        ("bad_malformed_base64", 400, "image 0 is not valid base64"),
        ("bad_top_k", 400, "top_k must be an integer from 1 to 10, got 0"),
        ("bad_content_type", 415, "unsupported Content-Type 'text/plain'"),
        ("bad_missing_content_type", 415, "missing Content-Type"),
        # the endpoint's own limit (model_code/serving_limits.py), one image more
        ("bad_batch_too_large", 413, f"at most {MAX_BATCH_IMAGES} images per request, got {MAX_BATCH_IMAGES + 1}"),
    ],
)
def test_client_mistakes_get_their_status_and_never_reach_the_endpoint(handler, runtime, name, status, message):
    client, stub = stubbed_runtime()  # no responses queued: any endpoint call would fail the test
    runtime(client)
    with stub:
        got_status, headers, body = handler(load_event(name))
    assert (got_status, body["statusCode"]) == (status, status)
    assert message in body["message"]
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("serverless", "limit", "endpoint_limit"), [("true", 4_000_000, 4_000_000), ("false", 4_325_376, 6_000_000)]
)
def test_one_image_over_the_endpoint_types_limit_is_413_naming_it(handler, runtime, monkeypatch, serverless, limit,
                                                                  endpoint_limit):  # fmt: skip
    monkeypatch.setenv("SERVERLESS_INFERENCE", serverless)
    runtime(stubbed_runtime()[0])  # no responses queued: any endpoint call would fail the test
    event = load_event("binary_jpeg")
    event["body"] = base64.b64encode(b"\xff\xd8\xff" + bytes(limit - 2)).decode()
    status, _, body = handler(event)
    kind = "serverless" if serverless == "true" else "instance"
    assert (status, body["message"]) == (
        413,
        f"images too large: {limit + 1} bytes, at most {limit} bytes for one image on this API "
        f"({kind} endpoint: {endpoint_limit} bytes per call)",
    )


def test_a_3_5_mb_batch_is_413_on_serverless_and_passes_on_an_instance(monkeypatch):
    from predict.request import RequestError, parse_request

    body = json.dumps({"images": [base64.b64encode(b"\xff\xd8\xff" + bytes(3_500_000 - 3)).decode()]})
    with pytest.raises(RequestError, match="at most 2950848 bytes for a batch's images") as refused:
        parse_request("application/json", body, False, None, serverless=True)
    assert refused.value.status_code == 413
    assert len(parse_request("application/json", body, False, None, serverless=False).images[0]) == 3_500_000


@pytest.mark.parametrize("serverless", [True, False], ids=["serverless", "instance"])
def test_the_largest_allowed_requests_fit_every_limit_on_the_way(serverless):
    """The Lambda event (binary bodies base64-encoded by API Gateway) and the InvokeEndpoint body, for one image
    and for a full batch of the most image bytes allowed, on each endpoint type."""
    from predict.request import LAMBDA_EVENT_LIMIT_BYTES, MAX_BATCH_IMAGES, parse_request, payload_limits

    limits = payload_limits(serverless)
    image = b"\xff\xd8\xff" + bytes(limits.single_image - 3)
    event = load_event("binary_jpeg") | {"body": base64.b64encode(image).decode()}
    request = parse_request("image/jpeg", event["body"], True, None, serverless)
    assert len(json.dumps(event)) <= LAMBDA_EVENT_LIMIT_BYTES
    assert len(request.endpoint_payload()[1]) <= limits.endpoint_body

    images = [b"\x89PNG\r\n\x1a\n" + bytes(limits.batch_images // MAX_BATCH_IMAGES - 8)] * MAX_BATCH_IMAGES
    body = json.dumps({"images": [base64.b64encode(image).decode() for image in images], "top_k": 10})
    request = parse_request("application/json", body, False, None, serverless)
    assert sum(map(len, request.images)) > limits.batch_images - MAX_BATCH_IMAGES
    assert len(json.dumps(load_event("json_batch") | {"body": body})) <= LAMBDA_EVENT_LIMIT_BYTES
    assert len(request.endpoint_payload()[1]) <= limits.endpoint_body


def model_error(original_status: int, message: str) -> dict:
    """InvokeEndpoint's ModelError as SageMaker words it (local_twin/sagemaker/endpoints.py, SERVE_FACTS)."""
    side = "client" if 0 < original_status < 500 else "server"
    logs = "/aws/sagemaker/Endpoints/" + ENDPOINT
    return {
        "service_error_code": "ModelError",
        "service_message": f'Received {side} error ({original_status}) from primary with message "{message}". See '
        f"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group={logs} "
        "in account 123456789012 for more information.",
        "http_status_code": 424,
        "modeled_fields": {
            "OriginalStatusCode": original_status,
            "OriginalMessage": message,
            "LogStreamArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{logs}",
        },
    }


def client_error(code: str, message: str, http_status: int) -> dict:
    return {"service_error_code": code, "service_message": message, "http_status_code": http_status}


NOT_FOUND = f"Endpoint {ENDPOINT} of account 123456789012 not found."
NOT_IN_SERVICE = f"Endpoint {ENDPOINT} is in Creating status, not InService."
WARMING_UP = "the model is warming up"
# The inference toolkit's answer to a model error, as TorchServe sends it: the message, then the traceback with
# the container's paths (shortened).
TOOLKIT_ANSWER = (
    "cannot decode image: image file is truncated (4 bytes not processed)\n"
    "Traceback (most recent call last):\n"
    '  File "/usr/local/lib/python3.12/site-packages/sagemaker_inference/transformer.py", line 150, in transform\n'
    '  File "/opt/ml/model/code/inference.py", line 101, in _decode_image\n'
    "inference.InferenceError: cannot decode image: image file is truncated (4 bytes not processed)\n"
)
# TorchServe's own answer when the worker running the model died (a crash, or its response timeout).
WORKER_DIED = '{\n  "code": 500,\n  "type": "InternalServerException",\n  "message": "Worker died."\n}\n'
CONTAINER_TIMEOUT = (
    "Your invocation timed out while waiting for a response from container primary. Review the latency metrics for "
    "each container in Amazon CloudWatch, resolve the issue, and try again."
)


@pytest.mark.parametrize(
    ("error", "status", "message", "retry_after"),
    [
        (client_error("ThrottlingException", "Rate exceeded", 400), 429, "too many requests", "1"),
        (client_error("ValidationError", NOT_FOUND, 400), 503, "the model is not deployed yet", "60"),
        (client_error("ValidationException", NOT_IN_SERVICE, 400), 503, "the model is not deployed yet", "60"),
        (client_error("ModelNotReadyException", "still provisioning", 429), 503, WARMING_UP, "30"),
        (
            client_error("ValidationError", "Request 9f1c has oversize body.", 400),
            413,
            "request too large for the model: SageMaker takes at most 4000000 bytes per call on a serverless "
            "endpoint, 6000000 on an instance one",
            None,
        ),
        (client_error("ServiceUnavailable", "down", 503), 503, "the model is not ready yet", "60"),
        (client_error("InternalFailure", "boom", 500), 502, "calling the model failed: InternalFailure", None),
        (model_error(500, "Traceback: CUDA out of memory"), 502, "the model failed (status 500)", None),
        (
            model_error(400, '{"message": "cannot decode image: truncated"}'),
            400,
            "refused the input: cannot decode",
            None,
        ),
        (
            model_error(400, TOOLKIT_ANSWER),
            400,
            "the model refused the input: cannot decode image: image file is truncated (4 bytes not processed)",
            None,
        ),
        (
            model_error(400, "[Errno 2] No such file: '/opt/ml/model/code/x.bin'\nTraceback..."),
            400,
            "the model refused the input: [Errno 2] No such file: '<path>'",
            None,
        ),
        (model_error(413, "image has 90000000 pixels"), 413, "refused the input: image has 90000000 pixels", None),
        (model_error(413, ""), 413, "the model refused the input (413)", None),  # over TorchServe's own limit
        (model_error(500, WORKER_DIED), 502, "the model failed (status 500); see the endpoint's logs", None),
        (model_error(0, CONTAINER_TIMEOUT), 504, "the model did not answer in time", None),
        (model_error(415, "unsupported content type"), 415, "refused the input: unsupported content type", None),
    ],
)
def test_endpoint_failures_are_mapped(handler, runtime, error, status, message, retry_after):
    client, stub = stubbed_runtime()
    stub.add_client_error("invoke_endpoint", **error)
    runtime(client)
    with stub:
        got_status, headers, body = handler(load_event("binary_png"))
    assert (got_status, body["statusCode"]) == (status, status)
    assert message in body["message"]
    assert "Traceback" not in body["message"] and "/opt/" not in body["message"]  # stays in the logs
    assert "\n" not in body["message"]
    assert headers.get("Retry-After") == retry_after


class FailingClient:
    def __init__(self, error: Exception):
        self.error = error

    def invoke_endpoint(self, **_):
        raise self.error


URL = "https://runtime.sagemaker.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    ("error", "status", "message", "retry_after"),
    [
        (ReadTimeoutError(endpoint_url=URL), 503, "the model is warming up", "30"),  # a cold start, never a 504
        (EndpointConnectionError(endpoint_url=URL), 503, "the model cannot be reached now", "60"),
        (ConnectionClosedError(endpoint_url=URL), 502, "calling the model failed: ConnectionClosedError", None),
    ],
)
def test_transport_failures_are_mapped(handler, runtime, error, status, message, retry_after):
    runtime(FailingClient(error))
    got_status, headers, body = handler(load_event("binary_png"))
    assert got_status == status and message in body["message"]
    assert headers.get("Retry-After") == retry_after


class AnsweringClient:
    def __init__(self, body: bytes):
        self.body = body

    def invoke_endpoint(self, **_):
        return {"Body": io.BytesIO(self.body), "InvokedProductionVariant": "AllTraffic"}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"<html>oops</html>", "not a prediction"),
        (json.dumps({"predictions": PREDICTIONS * 2}).encode(), "not one list per image"),
        (json.dumps({"predictions": "Beagle"}).encode(), "not one list per image"),
        (json.dumps({"predictions": [[]]}).encode(), "not one list per image"),  # an empty ranking
        (json.dumps({"predictions": [[{"label": "Beagle"}]]}).encode(), "not one list per image"),  # no probability
    ],
)
def test_an_answer_that_is_not_predictions_is_502(handler, runtime, answer, message):
    runtime(AnsweringClient(answer))
    status, _, body = handler(load_event("binary_png"))
    assert status == 502 and message in body["message"]


def test_the_endpoint_call_and_the_log_write_cannot_outlast_api_gateway():
    """API Gateway REST waits 29 s: connect + read, over every attempt, of the endpoint call and of the prediction
    log's write (one record; the images are off by default), must end before that, with time to answer."""
    from predict.endpoint import ANSWER_MARGIN_SECONDS, CLIENT_CONFIG
    from predict.prediction_log import S3_CONFIG

    def longest(config) -> float:
        return (config.connect_timeout + config.read_timeout) * config.retries["total_max_attempts"]

    assert longest(CLIENT_CONFIG) + longest(S3_CONFIG) + ANSWER_MARGIN_SECONDS <= 29


def test_after_a_cold_start_the_environment_answers_503_without_calling_for_a_while(handler, runtime, monkeypatch):
    """A burst during a cold start must not hold one concurrent execution per request for the read timeout."""
    from predict import endpoint

    client = runtime(FailingClient(ReadTimeoutError(endpoint_url=URL)))
    first = handler(load_event("binary_png"))
    runtime(AnsweringClient(b"never asked"))
    second = handler(load_event("binary_png"))
    assert [answer[0] for answer in (first, second)] == [503, 503]
    assert second[1]["Retry-After"] == "30" and "warming up" in second[2]["message"]
    monkeypatch.setattr(endpoint.ColdStartMemory, "until", 0.0)  # WARMING_UP_REMEMBERED_SECONDS later
    runtime(AnsweringClient(json.dumps({"predictions": PREDICTIONS}).encode()))
    assert handler(load_event("binary_png"))[0] == 200
    assert isinstance(client, FailingClient)


def test_a_warm_answer_fits_well_within_the_read_timeout():
    """The read timeout is what one request may hold a concurrent execution: seconds, not API Gateway's 29."""
    from predict.endpoint import CLIENT_CONFIG

    assert CLIENT_CONFIG.read_timeout <= 10


def test_missing_endpoint_configuration_is_503(handler, runtime, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "")
    runtime(stubbed_runtime()[0])
    status, headers, body = handler(load_event("binary_png"))
    assert status == 503 and "no model configured" in body["message"]
    assert headers["Retry-After"] == "60"


def test_our_own_bug_is_a_json_500_with_the_request_id(handler, runtime):
    runtime(FailingClient(RuntimeError("a bug")))
    status, _, body = handler(load_event("binary_png"))
    assert status == 500
    assert body["message"] == "internal error; request id req-binary_png"


def test_unknown_route_is_a_json_404(handler):
    event = load_event("binary_png") | {"path": "/admin", "resource": "/admin", "httpMethod": "GET"}
    status, _, body = handler(event)
    assert status == 404 and "POST /predict" in body["message"]


def test_cors_preflight_is_answered():
    from predict import app
    from tests.support.predict_lambda import LambdaContext

    event = load_event("binary_png") | {"httpMethod": "OPTIONS", "body": None}
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    response = app.lambda_handler(with_headers(event, event["headers"] | preflight), LambdaContext())
    assert response["statusCode"] == 204
    assert response["multiValueHeaders"]["Access-Control-Allow-Origin"] == ["*"]
    assert "x-api-key" in response["multiValueHeaders"]["Access-Control-Allow-Headers"][0].lower()


def test_browsers_may_read_retry_after(handler, runtime):
    client, stub = stubbed_runtime()
    stub.add_client_error("invoke_endpoint", **client_error("ThrottlingException", "Rate exceeded", 400))
    runtime(client)
    event = load_event("binary_png")
    with stub:
        _, headers, _ = handler(with_headers(event, event["headers"] | {"Origin": "https://example.com"}))
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_the_real_client_uses_the_budget_and_honours_the_local_endpoint_url(monkeypatch):
    """The local twin reaches its SageMaker through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, with no code change."""
    from predict import endpoint

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9999")
    endpoint.runtime_client.cache_clear()
    try:
        client = endpoint.runtime_client()
    finally:
        endpoint.runtime_client.cache_clear()
    assert client.meta.endpoint_url == "http://127.0.0.1:9999"
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 10)
    assert client.meta.config.retries["total_max_attempts"] == 1
