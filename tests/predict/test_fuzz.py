"""Random bodies, content types, encodings and top_k: never a 500, every error is JSON with a message."""

import base64
import io
import json

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from .conftest import LambdaContext, load_event

JPEG_START = b"\xff\xd8\xff"
CONTENT_TYPES = st.sampled_from(
    ["image/jpeg", "image/png", "application/json", "application/json; charset=utf-8", "text/plain", "", "IMAGE/JPEG"]
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=100).map(lambda raw: JPEG_START + raw),
    st.text(max_size=200),
    st.builds(lambda image, k: json.dumps({"image": image, "top_k": k}), st.text(max_size=40), st.integers(-5, 20)),
    st.builds(lambda images: json.dumps({"images": images}), st.lists(st.text(max_size=10), max_size=12)),
    st.just(""),
)


class AlwaysAnswers:
    def invoke_endpoint(self, **_):
        body = json.dumps({"predictions": [[{"label": "Beagle", "probability": 1.0}]] * 8}).encode()
        return {"Body": io.BytesIO(body), "InvokedProductionVariant": "AllTraffic"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content_type=CONTENT_TYPES,
    body=BODIES,
    as_base64=st.booleans(),
    top_k=st.one_of(st.none(), st.text(max_size=4), st.integers(-3, 30).map(str)),
)
def test_no_input_produces_a_500(monkeypatch, content_type, body, as_base64, top_k):
    monkeypatch.setenv("ENDPOINT_NAME", "dog-breeds")
    from predict import app, endpoint

    monkeypatch.setattr(endpoint, "runtime_client", lambda: AlwaysAnswers())
    event = load_event("binary_jpeg")
    raw = body.encode() if isinstance(body, str) else body
    event["body"] = base64.b64encode(raw).decode() if as_base64 else raw.decode("latin-1")
    event["isBase64Encoded"] = as_base64
    event["headers"] = {"Content-Type": content_type}
    event["multiValueHeaders"] = {"Content-Type": [content_type]}
    event["queryStringParameters"] = None if top_k is None else {"top_k": top_k}
    event["multiValueQueryStringParameters"] = None if top_k is None else {"top_k": [top_k]}
    response = app.lambda_handler(event, LambdaContext())
    assert response["statusCode"] in {200, 400, 413, 415}
    payload = json.loads(response["body"])
    if response["statusCode"] != 200:
        assert isinstance(payload["message"], str) and payload["message"]
