"""The API's bad-input corpus and a fuzz run on the whole local twin.

Real HTTP to the local API front, the real Predict Lambda in its own runtime process, and a live endpoint serving
the real model_code/inference.py over a seeded untrained ResNet18 (local_twin.serving): every refusal is
checked for its exact status, Content-Type and message, whichever layer gives it.
"""

import base64
import io
import json
import random
from pathlib import Path

import hypothesis.strategies as st
import pytest
import requests
from hypothesis import event, given, settings
from PIL import Image

from local_twin.template import Template
from model_code import dogbreeds
from model_code.serving_limits import MAX_BATCH_IMAGES, MAX_TOP_K
from predict.request import LAMBDA_EVENT_LIMIT_BYTES, SUPPORTED, payload_limits
from tests.support.images import jpeg, pixel_bombs
from tests.support.twin_runs import JSON, Api, answer_of

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)

CLASSES = [f"Breed {index}" for index in range(12)]  # more than MAX_TOP_K, so top_k decides the answer's length
IMAGE_SIZE = 32  # small: the model is cheap, the code path the same
REFUSED_BY_MODEL = "the model refused the input: "


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from local_twin.serving import serve_model, untrained_model_dir
    from local_twin.twin import Twin

    folder = tmp_path_factory.mktemp("api-hardening")
    with Twin(workdir=folder / "twin") as twin:  # stopping it resets moto's in-process state for the next twin
        endpoint = serve_model(twin, untrained_model_dir(folder / "model", CLASSES, IMAGE_SIZE))
        route = twin.template.api().routes[0]
        with requests.Session() as session:
            yield Api(f"{twin.api.url}{route.path}", twin.api.api_key, endpoint, session)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.radial_gradient("L").save(buffer, "PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def json_body(payload) -> bytes:
    return json.dumps(payload).encode()


GOOD_JPEG = jpeg((320, 240))
# The endpoint type of the twin's profile: serve_model creates it, the Predict function sizes requests for it.
LIMITS = payload_limits(Template.load(Path(__file__).resolve().parents[2]).parameters["ServerlessInference"] == "true")
RANDOM_BYTES = random.Random(7).randbytes(2048)  # no JPEG or PNG signature
BOMBS = pixel_bombs(dogbreeds.MAX_IMAGE_PIXELS)
TOP_K_MESSAGE = f"top_k must be an integer from 1 to {MAX_TOP_K}, got "

# (body, content type, top_k query, status, message); a message ending in "..." is a prefix
CORPUS = {
    "empty body": (b"", "image/jpeg", None, 400, "empty body: send an image"),
    "random bytes": (RANDOM_BYTES, "image/jpeg", None, 400, "body is not a JPEG or PNG image"),
    "truncated JPEG": (
        GOOD_JPEG[: len(GOOD_JPEG) // 2],
        "image/jpeg",
        None,
        400,
        REFUSED_BY_MODEL + "cannot decode image: image file is truncated (...",
    ),
    **{
        f"pixel bomb: {name}": (body, content_type, None, 413, REFUSED_BY_MODEL + message)
        for name, (body, content_type, message) in BOMBS.items()
    },
    "image bytes over the limit": (
        b"\xff\xd8\xff" + bytes(LIMITS.single_image - 2),
        "image/jpeg",
        None,
        413,
        f"images too large: {LIMITS.single_image + 1} bytes, at most {LIMITS.single_image} bytes for one image on "
        f"this API ({LIMITS.endpoint_kind} endpoint: {LIMITS.endpoint_body} bytes per call)",
    ),
    "wrong content type": (
        GOOD_JPEG,
        "text/plain",
        None,
        415,
        f"unsupported Content-Type 'text/plain': send {SUPPORTED}",
    ),
    "missing content type": (GOOD_JPEG, None, None, 415, f"missing Content-Type: send {SUPPORTED}"),
    "malformed JSON": (b'{"image": ', JSON, None, 400, "malformed JSON: Expecting value at position 10"),
    "JSON without an image": (
        json_body({"url": "http://example.com/x.jpg"}),
        JSON,
        None,
        400,
        'the JSON body must be an object with either "image" or "images"',
    ),
    "malformed base64": (
        json_body({"image": "%%%"}),
        JSON,
        None,
        400,
        "image 0 is not valid base64: Only base64 data is allowed",
    ),
    "base64 with bad padding": (
        json_body({"image": "abcde"}),
        JSON,
        None,
        400,
        "image 0 is not valid base64: Invalid base64-encoded string: number of data characters (5) cannot be "
        "1 more than a multiple of 4",
    ),
    "base64 of a GIF": (json_body({"image": b64(b"GIF89a...")}), JSON, None, 400, "image 0 is not a JPEG or PNG image"),
    "batch too large": (
        json_body({"images": [b64(GOOD_JPEG)] * (MAX_BATCH_IMAGES + 1)}),
        JSON,
        None,
        413,
        f"at most {MAX_BATCH_IMAGES} images per request, got {MAX_BATCH_IMAGES + 1}",
    ),
    "empty batch": (
        json_body({"images": []}),
        JSON,
        None,
        400,
        '"images" must be a non-empty list of base64-encoded JPEG or PNG',
    ),
    "top_k=0": (GOOD_JPEG, "image/jpeg", "0", 400, TOP_K_MESSAGE + "0"),
    "top_k=11": (GOOD_JPEG, "image/jpeg", "11", 400, TOP_K_MESSAGE + "11"),
    "top_k=x": (GOOD_JPEG, "image/jpeg", "x", 400, TOP_K_MESSAGE + "'x'"),
    "top_k=2.5": (GOOD_JPEG, "image/jpeg", "2.5", 400, TOP_K_MESSAGE + "'2.5'"),
    "JSON top_k=2.5": (json_body({"image": b64(GOOD_JPEG), "top_k": 2.5}), JSON, None, 400, TOP_K_MESSAGE + "2.5"),
    "JSON top_k=true": (json_body({"image": b64(GOOD_JPEG), "top_k": True}), JSON, None, 400, TOP_K_MESSAGE + "True"),
}


@pytest.mark.parametrize("case", CORPUS)
def test_each_bad_request_gets_its_status_and_message(api, case):
    body, content_type, top_k, status, message = CORPUS[case]
    response = api.post(body, content_type, top_k)
    answer = answer_of(response)
    assert (response.status_code, answer["statusCode"]) == (status, status), answer
    if message.endswith("..."):
        assert answer["message"].startswith(message[:-3]), answer
    else:
        assert answer["message"] == message
    assert set(answer) == {"message", "statusCode"}


def test_a_body_whose_event_is_over_lambdas_limit_is_refused_before_the_function(api):
    """Base64 in the proxy event makes a 6 MB body an 8 MB event: Lambda refuses it (6 MB synchronous request),
    so the function never answers; the client gets API Gateway's 413."""
    response = api.post(b"\xff\xd8\xff" + bytes(LAMBDA_EVENT_LIMIT_BYTES), "image/jpeg", None)
    assert response.status_code == 413
    assert answer_of(response) == {"message": "Request Too Long"}


def assert_predictions(per_image: list, top_k: int) -> None:
    assert len(per_image) == top_k
    assert {prediction["label"] for prediction in per_image} <= set(CLASSES)
    probabilities = [prediction["probability"] for prediction in per_image]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 < p <= 1 for p in probabilities)


def test_a_good_jpeg_is_labelled(api):
    response = api.post(GOOD_JPEG, "image/jpeg", top_k="3")
    answer = answer_of(response)
    assert response.status_code == 200, answer
    assert (answer["endpoint"], answer["variant"]) == (api.endpoint, "AllTraffic")
    assert_predictions(answer["predictions"], 3)


def test_a_good_json_batch_is_labelled(api):
    response = api.post(json_body({"images": [b64(GOOD_JPEG), b64(png())], "top_k": MAX_TOP_K}), JSON)
    answer = answer_of(response)
    assert response.status_code == 200, answer
    assert len(answer["predictions"]) == 2
    for per_image in answer["predictions"]:
        assert_predictions(per_image, MAX_TOP_K)


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["missing", "wrong"])
def test_the_api_key_is_required(api, key):
    """The front refuses before the handler runs: an empty body would otherwise be the handler's 400."""
    headers = {"Content-Type": "image/jpeg"} | ({"x-api-key": key} if key else {})
    response = api.session.post(api.url, data=b"", headers=headers, timeout=60)
    assert (response.status_code, answer_of(response)) == (403, {"message": "Forbidden"})


# ---------------------------------------------------------------- fuzz

# Printable ASCII without leading whitespace: what requests itself will send as a header value.
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.lstrip)
# Half of them accepted types, so garbage bodies get past the Content-Type check and reach the model.
CONTENT_TYPES = st.one_of(
    st.sampled_from(["image/jpeg", "image/png", "application/x-image", JSON, "application/json; charset=utf-8"]),
    st.none()
    | st.sampled_from(["IMAGE/PNG", "text/plain", "multipart/form-data; boundary=x", "image/gif"])
    | HEADER_TEXT,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
IMAGE_STRINGS = st.sampled_from(
    [b64(GOOD_JPEG), b64(GOOD_JPEG[:200]), b64(png()), b64(RANDOM_BYTES[:64]), "", "%%%", "http://example.com/x.jpg"]
)
TOP_K_VALUES = st.one_of(st.none(), st.integers(-3, 30), st.floats(allow_nan=False), st.text(max_size=4), JSON_VALUES)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda tail: GOOD_JPEG[:3] + tail),  # right signature, garbage after it
    st.integers(3, len(GOOD_JPEG)).map(lambda cut: GOOD_JPEG[:cut]),
    st.just(GOOD_JPEG),
    st.text(max_size=200).map(str.encode),
    st.builds(
        lambda image, top_k: json_body({"image": image, "top_k": top_k}),
        IMAGE_STRINGS | st.text(max_size=20),
        TOP_K_VALUES,
    ),
    st.builds(
        lambda images: json_body({"images": images}),
        st.lists(IMAGE_STRINGS, max_size=MAX_BATCH_IMAGES + 2) | JSON_VALUES,
    ),
    JSON_VALUES.map(json_body),
)
TOP_K_QUERY = st.one_of(st.none(), st.integers(-3, 30).map(str), HEADER_TEXT.map(lambda text: text[:4]))


@settings(max_examples=150, deadline=None, database=None)
@given(body=BODIES, content_type=CONTENT_TYPES, top_k=TOP_K_QUERY)
def test_fuzz_never_a_server_error(api, body, content_type, top_k):
    """With a healthy endpoint not even the documented 502/503/504 may appear: every answer is the client's."""
    response = api.post(body, content_type, top_k)
    event(f"HTTP {response.status_code}")  # the spread of answers, shown by --hypothesis-show-statistics
    answer = answer_of(response)
    assert response.status_code < 500, answer
    if response.status_code == 200:
        assert isinstance(answer["predictions"], list) and answer["endpoint"] == api.endpoint
    else:
        assert 400 <= response.status_code < 500
        assert isinstance(answer["message"], str) and answer["message"]
        assert answer["statusCode"] == response.status_code
