"""What the twin's three HTTP servers share (the API front, the local SageMaker, a serving container)."""

from http.server import BaseHTTPRequestHandler


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 with TCP_NODELAY and no access log."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, a kept-alive client waits ~40 ms for the body
    # (its delayed ACK). Real servers set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:
        pass  # the twin prints its own progress and logs; a line per request would drown them
