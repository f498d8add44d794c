"""The local API front: real HTTP requests become API Gateway REST proxy events, responses come back decoded."""

import base64
import dataclasses
import json
import threading
import time

import pytest
import requests

from local_twin.api import LocalApi, MetricsPublisher, UsagePlanLimits, is_binary, match_route
from local_twin.lambda_runtime import RequestTooLarge, Throttled
from local_twin.template import ApiSpec, Route, UsagePlan

pytestmark = pytest.mark.enable_socket  # the API front on loopback

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
            answer = {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(event["pathParameters"]),
            }
            return json.dumps(answer).encode(), False
        payload = base64.b64encode(b"\x89PNG binary answer").decode()
        answer = {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-Seen": "yes"},
            "body": payload,
            "isBase64Encoded": True,
        }
        return json.dumps(answer).encode(), False

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


def raising(error: Exception):
    return lambda function, event: (_ for _ in ()).throw(error)


@pytest.mark.parametrize(
    ("invoke", "status", "answer"),
    [
        # the function ran and failed (its error, a timeout, a crash): 502
        (
            lambda function, event: (b'{"errorType": "Boom", "errorMessage": "boom"}', True),
            502,
            {"message": "Internal server error"},
        ),
        # it answered something that is not a proxy response: 502 too
        (lambda function, event: (b'"just a string"', False), 502, {"message": "Internal server error"}),
        # Lambda rejected the invocation (throttled): 500, as the Lambda developer guide says
        (raising(Throttled("every environment busy")), 500, {"message": "Internal server error"}),
        # Lambda refused the event's size before running anything
        (raising(RequestTooLarge("6 MB")), 413, {"message": "Request Too Long"}),
    ],
)
def test_lambdas_failures_get_api_gateways_answers(front, invoke, status, answer):
    api, _ = front
    api.invoke = invoke
    got, _, body = request(f"{api.url}/items/1")
    assert (got, json.loads(body)) == (status, answer)  # exactly API Gateway's body: no detail leaks


def test_an_integration_over_api_gateways_timeout_is_504_and_the_function_goes_on(front):
    api, _ = front
    finished = threading.Event()

    def slow(function, event):
        time.sleep(0.6)
        finished.set()
        return b'{"statusCode": 200, "body": "late"}', False

    api.invoke, api.integration_timeout = slow, 0.2  # 29 s on the twin, as on API Gateway
    status, _, body = request(f"{api.url}/items/1")
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert finished.wait(5)


def test_the_usage_plan_throttles_each_key_with_a_token_bucket_and_a_daily_quota():
    now = [0.0]
    limits = UsagePlanLimits(UsagePlan(rate_limit=2, burst_limit=3, quota_limit=5), clock=lambda: now[0])
    assert [limits.refusal() for _ in range(4)] == [None, None, None, {"message": "Too Many Requests"}]
    now[0] += 0.5  # one token back at 2 per second
    assert [limits.refusal() for _ in range(2)] == [None, {"message": "Too Many Requests"}]
    now[0] += 10  # a full bucket again, but 4 of the day's 5 requests are spent
    assert [limits.refusal() for _ in range(2)] == [None, {"message": "Limit Exceeded"}]


def test_requests_over_the_usage_plan_are_429_before_the_function(front):
    api, calls = front
    api.usage_plan = UsagePlanLimits(UsagePlan(rate_limit=0.001, burst_limit=2))
    headers = {"Content-Type": "image/jpeg", "x-api-key": "secret-key"}
    statuses = [request(f"{api.url}/predict", JPEG, headers, "POST")[0] for _ in range(3)]
    assert statuses == [201, 201, 429] and len(calls) == 2


def test_route_matching_and_binary_types():
    assert match_route(API.routes, "GET", "/items/a/b") is None
    assert match_route([Route("/{proxy+}", "ANY", "F", False)], "PUT", "/a/b").path_parameters == {"proxy": "a/b"}
    assert is_binary("image/jpeg; charset=binary", ["image/*"])
    assert not is_binary("application/json", ["image/*"])
    assert not is_binary(None, ["*/*"])


def test_each_request_gives_api_gateways_metrics_by_api_name_and_stage(front):
    """As API Gateway writes them to AWS/ApiGateway: Count, 4XXError, 5XXError (1 or 0) and Latency."""
    api, _ = front
    api.api = dataclasses.replace(API, name="dogbreeds")
    published = []
    api.metrics = MetricsPublisher(published.extend)
    request(f"{api.url}/items/7")  # 200
    request(f"{api.url}/predict", JPEG, {"Content-Type": "image/jpeg"}, method="POST")  # no key: 403
    api.metrics.flush()
    data = [published[start : start + 4] for start in range(0, len(published), 4)]  # each request's four
    answers = [{datum["MetricName"]: datum["Value"] for datum in request_data} for request_data in data]
    assert [(a["Count"], a["4XXError"], a["5XXError"]) for a in answers] == [(1.0, 0.0, 0.0), (1.0, 1.0, 0.0)]
    assert all(answer["Latency"] > 0 for answer in answers)
    dimensions = {json.dumps(datum["Dimensions"]) for datum in published}
    assert dimensions == {json.dumps([{"Name": "ApiName", "Value": "dogbreeds"}, {"Name": "Stage", "Value": "Prod"}])}
    assert {datum["Unit"] for datum in published if datum["MetricName"] == "Latency"} == {"Milliseconds"}
