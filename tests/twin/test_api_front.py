"""The local API front: real HTTP requests become API Gateway REST proxy events, responses come back decoded."""

import base64
import dataclasses
import json

import pytest
import requests

from local_twin.api import LocalApi, is_binary, match_route
from local_twin.template import ApiSpec, Route

API = ApiSpec(
    stage="Prod",
    binary_media_types=["image/jpeg", "image/png", "application/x-image"],
    routes=[
        Route("/predict", "POST", "PredictFunction", api_key_required=True),
        Route("/items/{id}", "GET", "ItemFunction", api_key_required=False),
    ],
)
API_WITH_CORS = dataclasses.replace(
    API,
    cors_headers={
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Allow-Methods": "POST,OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type,X-Api-Key",
    },
)
JPEG = b"\xff\xd8\xff\xe0 not really a jpeg \x00\x01"


@pytest.fixture
def front():
    calls = []

    def invoke(function, event):
        calls.append((function, event))
        if function == "ItemFunction":
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(event["pathParameters"]),
            }
        payload = base64.b64encode(b"\x89PNG binary answer").decode()
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-Seen": "yes"},
            "body": payload,
            "isBase64Encoded": True,
        }

    api = LocalApi(API, invoke, api_key="secret-key")
    api.start()
    yield api, calls
    api.stop()


def request(url, data=None, headers=None, method="GET"):
    response = requests.request(method, url, data=data, headers=headers or {}, timeout=10)
    return response.status_code, response.headers, response.content


def test_binary_post_becomes_a_base64_proxy_event(front):
    api, calls = front
    status, headers, body = request(
        f"{api.url}/predict?top_k=3", JPEG, {"Content-Type": "image/jpeg", "x-api-key": "secret-key"}, "POST"
    )
    assert (status, body, headers["X-Seen"]) == (201, b"\x89PNG binary answer", "yes")
    ((function, event),) = calls
    assert function == "PredictFunction"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == JPEG
    assert (event["httpMethod"], event["path"], event["resource"]) == ("POST", "/predict", "/predict")
    assert event["queryStringParameters"] == {"top_k": "3"}
    assert event["headers"]["Content-Type"] == "image/jpeg"
    assert event["requestContext"]["stage"] == "Prod"
    assert event["requestContext"]["identity"]["apiKey"] == "secret-key"
    assert len(event["requestContext"]["requestId"]) == 36


def test_json_body_stays_text(front):
    api, calls = front
    body = json.dumps({"image": "aGk="}).encode()
    request(f"{api.url}/predict", body, {"Content-Type": "application/json", "x-api-key": "secret-key"}, "POST")
    event = calls[0][1]
    assert (event["isBase64Encoded"], json.loads(event["body"])) == (False, {"image": "aGk="})


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_api_key_is_required_where_the_template_says(front, key):
    api, calls = front
    headers = {"Content-Type": "image/jpeg"} | ({"x-api-key": key} if key else {})
    status, _, body = request(f"{api.url}/predict", JPEG, headers, "POST")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    assert calls == []


def test_cors_preflight_is_answered_by_the_gateway_without_a_key(front):
    api, calls = front
    api.api = API_WITH_CORS
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, headers, body = request(f"{api.url}/predict", headers=preflight, method="OPTIONS")
    assert (status, body) == (200, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert "X-Api-Key" in headers["Access-Control-Allow-Headers"].split(",")
    assert calls == []  # a mock integration: the function never sees a preflight
    # the gateway's own refusals carry the origin too, or the page could not read them
    status, headers, _ = request(f"{api.url}/predict", JPEG, {"Content-Type": "image/jpeg"}, "POST")
    assert (status, headers["Access-Control-Allow-Origin"]) == (403, "https://app.example")
    assert request(f"{api.url}/elsewhere", method="OPTIONS")[0] == 403  # not a route: no preflight either


def test_without_cors_in_the_template_there_is_no_preflight(front):
    api, _ = front
    assert request(f"{api.url}/predict", method="OPTIONS")[0] == 403


def test_path_parameters_and_routes_without_a_key(front):
    api, _ = front
    status, _, body = request(f"{api.url}/items/42")
    assert (status, json.loads(body)) == (200, {"id": "42"})


def test_unknown_route_and_wrong_method_are_403_like_api_gateway(front):
    api, calls = front
    assert request(f"{api.url}/nothing")[0] == 403
    assert request(f"{api.url}/predict", headers={"x-api-key": "secret-key"})[0] == 403
    assert calls == []


def test_handler_failure_is_502(front):
    api, _ = front
    api.invoke = lambda function, event: (_ for _ in ()).throw(RuntimeError("boom"))
    status, _, body = request(f"{api.url}/items/1")
    assert status == 502
    assert json.loads(body)["message"] == "Internal server error"


def test_route_matching_and_binary_types():
    assert match_route(API.routes, "GET", "/items/a/b") is None
    assert match_route([Route("/{proxy+}", "ANY", "F", False)], "PUT", "/a/b").path_parameters == {"proxy": "a/b"}
    assert is_binary("image/jpeg; charset=binary", ["image/*"])
    assert not is_binary("application/json", ["image/*"])
    assert not is_binary(None, ["*/*"])
