"""What the twin's HTTP servers share (the API front, the local SageMaker, a serving container, the IAM gateway
in front of moto, each function's Lambda Runtime API)."""

import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers of one connection, not of the message (RFC 9110 7.6.1): a proxy does not pass them on.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"})
# What reply() writes itself (send_response adds Server and Date), so a reply passed on must not repeat it.
_WRITTEN_BY_REPLY = HOP_BY_HOP | {"server", "date", "content-length"}


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with TCP_NODELAY and no access log."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, a kept-alive client waits ~40 ms for the body
    # (its delayed ACK). Real servers set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:
        pass  # the twin prints its own progress and logs; a line per request would drown them


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    head: bool = False,
) -> None:
    """Answer one request: the status line, ``headers``, a Content-Length that is the body's, then the body.

    A HEAD answer (``head``) sends no body; a Content-Length among ``headers`` is then kept, since it tells the
    length a GET would have (a HEAD passed on from moto carries the object's)."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    handler.send_response(status)
    for name, value in pairs:
        if name.lower() not in _WRITTEN_BY_REPLY:
            handler.send_header(name, value)
    given_length = next((value for name, value in pairs if name.lower() == "content-length"), None)
    handler.send_header("Content-Length", given_length if head and given_length is not None else str(len(body)))
    handler.end_headers()
    if not head and body:
        handler.wfile.write(body)


def serve_in_background(handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1", port: int = 0):
    """A threaded HTTP server on ``host`` (a free port by default), serving from a daemon thread."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def shut_down(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
