"""What the twin's HTTP servers share (the API front, the local SageMaker, a serving container, the IAM gateway
in front of moto, each function's Lambda Runtime API)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with TCP_NODELAY and no access log."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, a kept-alive client waits ~40 ms for the body
    # (its delayed ACK). Real servers set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:
        pass  # the twin prints its own progress and logs; a line per request would drown them


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
