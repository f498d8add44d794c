"""The try-it page: GET / on the API, served without a key; the page posts to the POST route with the key."""

import json
import re
from pathlib import Path

import pytest
import requests

from local_twin.api import LocalApi
from local_twin.template import Template
from try_it import app

pytestmark = pytest.mark.enable_socket  # the page is served on loopback

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_spec():
    return Template.load(ROOT, profile="local").api()


@pytest.fixture
def front(api_spec):
    def invoke(function, event):  # as Lambda answers API Gateway: (payload, the function errored)
        if function == "TryItPageFunction":
            return json.dumps(app.lambda_handler(event, None)).encode(), False
        answer = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"predictions": []}'}
        return json.dumps(answer).encode(), False

    api = LocalApi(api_spec, invoke, api_key="the-key")
    api.start()
    yield api
    api.stop()


def test_the_page_loads_without_a_key_and_the_post_still_needs_one(front):
    page = requests.get(f"{front.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Dog breeds: try it</title>" in page.text
    refused = requests.post(f"{front.url}/predict", data=b"x", headers={"Content-Type": "image/jpeg"}, timeout=10)
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    allowed = requests.post(
        f"{front.url}/predict", data=b"x", headers={"Content-Type": "image/jpeg", "x-api-key": "the-key"}, timeout=10
    )
    assert allowed.status_code == 200


def test_the_page_posts_to_the_post_route_relative_to_itself(api_spec):
    (post,) = [route for route in api_spec.routes if route.method == "POST"]
    (relative,) = re.findall(r'const PREDICT = "([^"]+)"', app.PAGE)
    assert "/" + relative == post.path  # relative: on AWS the page lives under the stage, /prod/
    assert "fetch(predictUrl()" in app.PAGE


def test_the_key_stays_in_the_tab_and_the_page_fetches_only_its_own_api():
    assert "sessionStorage.setItem" in app.PAGE
    assert "localStorage" not in app.PAGE and "document.cookie" not in app.PAGE
    assert "connect-src 'self'" in app.HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in app.HEADERS["Content-Security-Policy"]


def test_each_error_status_gets_its_own_message():
    for status in ("403", "429", "503", "504"):
        assert f"status === {status}" in app.PAGE
