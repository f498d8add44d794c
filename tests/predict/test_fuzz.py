"""Random bodies, content types, headers, encodings and top_k: never a 500, every error is JSON with a message."""

import base64
import io
import json

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from tests.support.predict_lambda import LambdaContext, load_event, with_headers

SAMPLE = load_event("binary_jpeg")
JPEG = base64.b64decode(SAMPLE["body"])
JPEG_B64 = SAMPLE["body"]

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "image/jpeg",
            "image/png",
            "application/x-image",
            "application/json",
            "application/json; charset=utf-8",
            "IMAGE/JPEG",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
IMAGE_STRINGS = st.sampled_from([JPEG_B64, JPEG_B64[:-8], "", "not base64!", base64.b64encode(b"GIF89a").decode()])
BODIES = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=100).map(lambda raw: JPEG[:3] + raw),
    st.just(JPEG),
    st.text(max_size=200).map(str.encode),
    st.builds(
        lambda image, top_k: json.dumps({"image": image, "top_k": top_k}).encode(),
        IMAGE_STRINGS | st.text(max_size=20),
        JSON_VALUES,
    ),
    st.builds(
        lambda images: json.dumps({"images": images}).encode(),
        st.lists(IMAGE_STRINGS, max_size=10) | JSON_VALUES,
    ),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
)
HEADERS = st.dictionaries(
    st.sampled_from(["Accept", "X-Forwarded-For", "content-type", "Content-Length", "Origin"]) | st.text(max_size=10),
    st.text(max_size=40),
    max_size=4,
)
TOP_K = st.one_of(st.none(), st.text(max_size=4), st.integers(-3, 30).map(str))


class AnswersEachImage:
    """The endpoint as inference.py answers: a raw image's ranking, or one ranking per image of a JSON batch."""

    def invoke_endpoint(self, Body, ContentType, **_):
        ranking = [{"label": "Beagle", "probability": 1.0}]
        batch = ContentType == "application/json"
        predictions = [ranking] * len(json.loads(Body)["images"]) if batch else ranking
        body = json.dumps({"predictions": predictions})
        return {"Body": io.BytesIO(body.encode()), "InvokedProductionVariant": "AllTraffic"}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content_type=CONTENT_TYPES,
    body=BODIES,
    as_base64=st.booleans(),
    headers=HEADERS,
    top_k=TOP_K,
)
def test_no_input_produces_a_500(monkeypatch, content_type, body, as_base64, headers, top_k):
    monkeypatch.setenv("ENDPOINT_NAME", "dog-breeds")
    from predict import app, endpoint

    monkeypatch.setattr(endpoint, "runtime_client", lambda: AnswersEachImage())
    event = with_headers(SAMPLE, headers | {"Content-Type": content_type})
    event["body"] = base64.b64encode(body).decode() if as_base64 else body.decode("latin-1")
    event["isBase64Encoded"] = as_base64
    event["queryStringParameters"] = None if top_k is None else {"top_k": top_k}
    event["multiValueQueryStringParameters"] = None if top_k is None else {"top_k": [top_k]}
    response = app.lambda_handler(event, LambdaContext())
    assert response["statusCode"] in {200, 400, 413, 415}
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    payload = json.loads(response["body"])
    if response["statusCode"] == 200:
        assert payload["predictions"]
    else:
        assert isinstance(payload["message"], str) and payload["message"]
        assert payload["statusCode"] == response["statusCode"]
