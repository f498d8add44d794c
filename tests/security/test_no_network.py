"""No URL fetched on the serving path, at run time: the proxy and the endpoint refuse a URL instead of fetching it,
the client cannot choose the endpoint, and an image is labelled without the network.

The API key on the full local twin is checked in tests/twin/test_api_hardening.py.
"""

import base64
import io
import json

import pytest

from tests.support.images import jpeg
from tests.support.predict_lambda import ENDPOINT, LAMBDA_ENVIRONMENT, LambdaContext, load_event, stubbed_runtime


@pytest.fixture
def predict_handler(monkeypatch):
    """The real Predict handler as the template configures it, its sagemaker-runtime client stubbed with no
    responses: any InvokeEndpoint call fails the test."""
    for name, value in LAMBDA_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    from predict import app, endpoint

    client, stub = stubbed_runtime()
    monkeypatch.setattr(endpoint, "runtime_client", lambda: client)

    def call(event: dict) -> tuple[int, dict]:
        with stub:
            response = app.lambda_handler(event, LambdaContext())
        stub.assert_no_pending_responses()
        return response["statusCode"], json.loads(response["body"])

    return call, stub


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            "bad_image_url",
            "image 0 is not valid base64: Only base64 data is allowed (URLs are not fetched: send the image's bytes)",
        ),
        ("bad_url_field", 'the JSON body must be an object with either "image" or "images"'),
    ],
)
def test_the_proxy_refuses_a_url_instead_of_fetching_it(predict_handler, no_network, event, message):
    call, _ = predict_handler
    assert call(load_event(event)) == (400, {"message": message, "statusCode": 400})
    assert no_network == []


def test_the_client_cannot_choose_the_endpoint(predict_handler, no_network):
    """Extra JSON fields (an endpoint name, a URL) are ignored: the endpoint is fixed server-side."""
    call, stub = predict_handler
    image = json.loads(load_event("json_base64")["body"])["image"]
    event = load_event("json_base64")
    event["body"] = json.dumps({"image": image, "endpoint": "attacker", "EndpointName": "attacker", "url": "http://x"})
    answer = {"predictions": [{"label": "Beagle", "probability": 1.0}]}  # one image travels raw
    stub.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(json.dumps(answer).encode()), "ContentType": "application/json"},
        {
            "EndpointName": ENDPOINT,
            "ContentType": "image/jpeg",
            "Accept": "application/json",
            "Body": base64.b64decode(image),
        },
    )
    status, body = call(event)
    assert (status, body["predictions"], body["endpoint"]) == (200, answer["predictions"], ENDPOINT)
    assert no_network == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": "http://example.com/x.jpg"}, "malformed base64 image: Only base64 data is allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 'JSON must be an object with either "image" or "images"'),
        ({"images": ["https://example.com/a.jpg"]}, "malformed base64 image: Only base64 data is allowed"),
    ],
)
def test_the_endpoint_refuses_a_url_instead_of_fetching_it(endpoint_handler, no_network, body, message):
    inference, _ = endpoint_handler
    with pytest.raises(inference.InferenceError) as refused:
        inference.input_fn(json.dumps(body), "application/json")
    assert (refused.value.status_code, str(refused.value)) == (400, message)
    assert no_network == []


def test_the_endpoint_labels_an_image_without_the_network(endpoint_handler, no_network):
    inference, predictor = endpoint_handler
    answer = json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(jpeg(), "image/jpeg"), predictor)))
    assert {prediction["label"] for prediction in answer["predictions"]} == {"Beagle", "Poodle"}
    assert no_network == []
