"""The Predict Lambda end to end through its handler: exact endpoint requests, every status and message."""

import base64
import io
import json

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from .conftest import ENDPOINT, load_event

PREDICTIONS = [[{"label": "Beagle", "probability": 0.9}, {"label": "Basset hound", "probability": 0.05}]]


def stubbed_runtime():
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    return client, Stubber(client)


def endpoint_reply(predictions):
    body = json.dumps({"predictions": predictions}).encode()
    return {
        "Body": io.BytesIO(body),
        "ContentType": "application/json",
        "InvokedProductionVariant": "AllTraffic",
    }


def test_binary_jpeg_is_forwarded_as_json_with_top_k(handler, runtime):
    event = load_event("binary_jpeg")
    client, stub = stubbed_runtime()
    expected_body = json.dumps({"images": [event["body"]], "top_k": 3}).encode()
    stub.add_response(
        "invoke_endpoint",
        endpoint_reply(PREDICTIONS),
        expected_params={
            "EndpointName": ENDPOINT,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": expected_body,
        },
    )
    runtime(client)
    with stub:
        status, headers, body = handler(event)
    stub.assert_no_pending_responses()
    assert status == 200
    assert body == {"predictions": PREDICTIONS[0], "endpoint": ENDPOINT, "variant": "AllTraffic"}
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("name", "top_k", "images"), [("binary_png", 5, 1), ("json_base64", 2, 1), ("json_batch", 5, 2)]
)
def test_each_accepted_request_shape(handler, runtime, name, top_k, images):
    event = load_event(name)
    client, stub = stubbed_runtime()
    if name.startswith("json"):
        payload = json.loads(event["body"])
        encoded = payload.get("images") or [payload["image"]]
    else:
        encoded = [event["body"]]
    assert len(encoded) == images
    expected = {"images": encoded, "top_k": top_k}
    stub.add_response(
        "invoke_endpoint",
        endpoint_reply(PREDICTIONS * images),
        expected_params={
            "EndpointName": ENDPOINT,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": json.dumps(expected).encode(),
        },
    )
    runtime(client)
    with stub:
        status, _, body = handler(event)
    assert status == 200
    assert body["predictions"] == (PREDICTIONS * images if name == "json_batch" else PREDICTIONS[0])


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("bad_empty_body", 400, "empty body"),
        ("bad_not_an_image", 400, "body is not a JPEG or PNG image"),
        ("bad_malformed_json", 400, "malformed JSON"),
        ("bad_malformed_base64", 400, "image 0 is not valid base64"),
        ("bad_top_k", 400, "top_k must be an integer from 1 to 10"),
        ("bad_content_type", 415, "unsupported Content-Type 'text/plain'"),
        ("bad_missing_content_type", 415, "missing Content-Type"),
        ("bad_batch_too_large", 413, "at most 8 images per request, got 9"),
    ],
)
def test_client_mistakes_get_their_status_and_never_reach_the_endpoint(handler, runtime, name, status, message):
    client, stub = stubbed_runtime()  # no responses queued: any endpoint call would fail the test
    runtime(client)
    with stub:
        got_status, _, body = handler(load_event(name))
    assert got_status == status
    assert message in body["message"] and body["statusCode"] == status


def test_oversized_body_is_413(handler, runtime):
    runtime(stubbed_runtime()[0])
    event = load_event("binary_jpeg")
    big = b"\xff\xd8\xff" + b"\0" * 4_400_000
    event["body"] = base64.b64encode(big).decode()
    status, _, body = handler(event)
    assert status == 413 and "images too large" in body["message"]


def model_error(original_status: int, message: str) -> dict:
    return {
        "service_error_code": "ModelError",
        "service_message": "Received client error from primary with message ...",
        "http_status_code": 424,
        "modeled_fields": {"OriginalStatusCode": original_status, "OriginalMessage": message},
    }


def client_error(code: str, message: str, http_status: int) -> dict:
    return {"service_error_code": code, "service_message": message, "http_status_code": http_status}


NOT_FOUND = f"Endpoint {ENDPOINT} of account 123456789012 not found."


@pytest.mark.parametrize(
    ("error", "status", "message", "retry_after"),
    [
        (client_error("ThrottlingException", "Rate exceeded", 400), 429, "too many requests", "1"),
        (client_error("ValidationException", NOT_FOUND, 400), 503, "not deployed yet", "60"),
        (client_error("ModelNotReadyException", "not ready", 429), 503, "not ready yet", "60"),
        (client_error("ServiceUnavailable", "down", 503), 503, "not ready yet", "60"),
        (client_error("InternalFailure", "boom", 500), 502, "endpoint call failed", None),
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
    assert headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    ("original", "status", "message"),
    [
        (400, 400, "the model refused the image: cannot decode image"),
        (413, 413, "the model refused the image: cannot decode image"),
        (500, 502, "the model failed (500)"),
    ],
)
def test_model_errors_keep_the_models_reason(handler, runtime, original, status, message):
    client, stub = stubbed_runtime()
    stub.add_client_error(
        "invoke_endpoint", **model_error(original, json.dumps({"message": "cannot decode image: broken data"}))
    )
    runtime(client)
    with stub:
        got_status, _, body = handler(load_event("binary_png"))
    assert got_status == status and message in body["message"]


class TimingOutClient:
    def invoke_endpoint(self, **_):
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com")


def test_endpoint_timeout_is_504(handler, runtime):
    runtime(TimingOutClient())
    status, _, body = handler(load_event("binary_png"))
    assert status == 504 and "did not answer in time" in body["message"]


def test_missing_endpoint_configuration_is_503(handler, runtime, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "")
    runtime(stubbed_runtime()[0])
    status, _, body = handler(load_event("binary_png"))
    assert status == 503 and "no endpoint configured" in body["message"]


def test_unknown_route_is_a_json_404(handler):
    event = load_event("binary_png") | {"path": "/admin", "resource": "/admin", "httpMethod": "GET"}
    status, _, body = handler(event)
    assert status == 404 and "POST /predict" in body["message"]


def test_cors_preflight_is_answered(handler):
    event = load_event("binary_png") | {"httpMethod": "OPTIONS", "body": None}
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    event["headers"] = event["headers"] | preflight
    event["multiValueHeaders"] = event["multiValueHeaders"] | {name: [value] for name, value in preflight.items()}
    from predict import app

    from .conftest import LambdaContext

    response = app.lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 204
    assert response["multiValueHeaders"]["Access-Control-Allow-Origin"] == ["*"]
