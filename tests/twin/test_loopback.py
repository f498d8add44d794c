"""The twin's one HTTP reply writer (local_twin/loopback.py): every server of the twin answers through it."""

import http.client
import re
from pathlib import Path

import pytest

from local_twin.loopback import LoopbackHandler, reply, serve_in_background, shut_down

pytestmark = pytest.mark.enable_socket  # loopback servers are what it tests

LOCAL_TWIN = Path(__file__).resolve().parents[2] / "local_twin"
# A reply passed on from moto: its connection headers, its own Server/Date and a stale Content-Length.
PASSED_ON = [
    ("Content-Type", "application/xml"),
    ("Content-Length", "999"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "close"),
    ("Server", "moto"),
    ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ("x-amz-request-id", "ABC"),
]


@pytest.fixture(scope="module")
def server_url():
    class Handler(LoopbackHandler):
        def do_GET(self):
            reply(self, 200, b"<ok/>", PASSED_ON)

        def do_HEAD(self):
            reply(self, 200, b"", PASSED_ON, head=True)

        def do_POST(self):
            reply(self, 201, b'{"a": 1}', {"Content-Type": "application/json"})

    server = serve_in_background(Handler, "loopback-test")
    yield server.server_address[:2]
    shut_down(server)


def answer(address, method: str) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    connection.request(method, "/")
    response = connection.getresponse()
    return response, response.read()


def test_a_reply_carries_its_body_s_length_and_none_of_the_connection_headers_it_was_given(server_url):
    response, body = answer(server_url, "GET")
    assert (response.status, body) == (200, b"<ok/>")
    headers = response.getheaders()
    assert [value for name, value in headers if name == "Content-Length"] == ["5"]
    assert response.getheader("x-amz-request-id") == "ABC"
    assert response.getheader("Transfer-Encoding") is None and response.getheader("Connection") is None
    assert [name for name, _ in headers].count("Server") == [name for name, _ in headers].count("Date") == 1
    assert response.getheader("Server") != "moto"


def test_a_head_reply_keeps_the_length_a_get_would_have_and_sends_no_body(server_url):
    response, body = answer(server_url, "HEAD")
    assert (response.status, body, response.getheader("Content-Length")) == (200, b"", "999")


def test_a_mapping_of_headers_works_as_pairs_do(server_url):
    response, body = answer(server_url, "POST")
    assert (response.status, body, response.getheader("Content-Type")) == (201, b'{"a": 1}', "application/json")
    assert response.getheader("Content-Length") == "8"


def test_no_server_of_the_twin_writes_a_reply_of_its_own():
    """The status line, headers and Content-Length are written in loopback.reply alone."""
    writers = {
        str(path.relative_to(LOCAL_TWIN))
        for path in LOCAL_TWIN.rglob("*.py")
        if path.name != "loopback.py" and re.search(r"\.(send_response|end_headers)\(", path.read_text())
    }
    assert not writers, f"write the reply with local_twin.loopback.reply: {sorted(writers)}"
