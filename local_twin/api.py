"""The local front for the REST API: real HTTP requests in, API Gateway REST proxy events to the handler.

Routes, methods, binary media types, the API-key requirement and the usage plan's throttle and quota are read
from template.yaml; the event is the proxy-integration (payload 1.0) shape, and the handler runs in the
function's own execution environment (local_twin/lambda_runtime.py: its process, environment and role), as API
Gateway invokes it. What a client gets when something fails is API Gateway's own answer (Lambda developer guide,
"Handling Lambda errors with an API Gateway API"; API Gateway's throttling and integration-timeout pages):

- the usage plan's throttle (token bucket: burst, then rate per second) or daily quota is spent: 429
  ``{"message": "Too Many Requests"}`` / ``{"message": "Limit Exceeded"}``, the function is not called;
- Lambda rejects the invocation (throttled: every environment busy at the function's concurrency): 500;
- the function ran and failed (an error, a timeout, a crash): 502; both bodies ``{"message": "Internal server
  error"}``;
- the integration outlives API Gateway's 29 s: 504 ``{"message": "Endpoint request timed out"}`` (the function
  goes on).
"""

import base64
import concurrent.futures
import fnmatch
import json
import logging
import queue
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from local_twin.account import ACCOUNT_ID
from local_twin.emf import MAX_DATUMS_PER_CALL
from local_twin.lambda_runtime import RequestTooLarge, Throttled
from local_twin.loopback import LoopbackHandler, reply, serve_in_background, shut_down, url_of
from local_twin.template import ApiSpec, Route, UsagePlan

# (function logical id, event) -> (the handler's answer, whether it failed); raises Throttled or RequestTooLarge
# when Lambda refuses the invocation
Invoke = Callable[[str, dict], tuple[bytes, bool]]
FORBIDDEN = {"message": "Forbidden"}
INTERNAL_SERVER_ERROR = {"message": "Internal server error"}
INTEGRATION_TIMEOUT_SECONDS = 29.0  # a REST API's default (Regional APIs may ask AWS for more)
log = logging.getLogger(__name__)


class UsagePlanLimits:
    """One API key's usage plan as API Gateway applies it: a token bucket of ``burst_limit`` requests, refilled at
    ``rate_limit`` per second, and a quota of requests per period (a day here)."""

    def __init__(self, plan: UsagePlan, clock: Callable[[], float] = time.monotonic):
        self.plan = plan
        self.clock = clock
        self.tokens = float(plan.burst_limit)
        self.refilled = clock()
        self.used_today: dict[str, int] = {}
        self.lock = threading.Lock()

    def refusal(self) -> dict | None:
        """None when the request may go on (it is counted), else API Gateway's 429 body."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.plan.burst_limit, self.tokens + (now - self.refilled) * self.plan.rate_limit)
            self.refilled = now
            day = time.strftime("%Y-%m-%d", time.gmtime())
            if self.plan.quota_limit is not None and self.used_today.get(day, 0) >= self.plan.quota_limit:
                return {"message": "Limit Exceeded"}
            if self.tokens < 1:
                return {"message": "Too Many Requests"}
            self.tokens -= 1
            self.used_today[day] = self.used_today.get(day, 0) + 1
            return None


@dataclass(frozen=True)
class MatchedRoute:
    route: Route
    path_parameters: dict[str, str]


def route_pattern(path: str) -> re.Pattern:
    """``/items/{id}`` and ``/{proxy+}`` as API Gateway matches them."""
    parts = []
    for segment in re.split(r"(\{[^}]+\})", path):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("".join(parts) + "/?")


def match_route(routes: list[Route], method: str, path: str) -> MatchedRoute | None:
    for route in routes:
        found = route_pattern(route.path).fullmatch(path)
        if found and route.method in (method, "ANY"):
            return MatchedRoute(route, found.groupdict())
    return None


def is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return bool(media_type) and any(fnmatch.fnmatch(media_type, pattern.lower()) for pattern in binary_media_types)


def proxy_event(
    matched: MatchedRoute,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    api: ApiSpec,
    source_ip: str,
    api_key: str | None,
) -> dict:
    """The API Gateway REST proxy event for one request."""
    split = urlsplit(raw_path)
    query = parse_qs(split.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    single_headers = {name: values[-1] for name, values in multi_headers.items()}
    content_type = next((value for name, value in single_headers.items() if name.lower() == "content-type"), None)
    binary = is_binary(content_type, api.binary_media_types)
    if not body:
        event_body = None
    elif binary:
        event_body = base64.b64encode(body).decode()
    else:
        event_body = body.decode("utf-8", errors="replace")
    now = time.time()
    return {
        "resource": matched.route.path,
        "path": split.path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": matched.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": matched.route.path,
            "httpMethod": method,
            "path": f"/{api.stage}{split.path}",
            "stage": api.stage,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "accountId": ACCOUNT_ID,
            "apiId": "twinapi",
            "protocol": "HTTP/1.1",
            "domainName": single_headers.get("Host", "127.0.0.1"),
            "identity": {"sourceIp": source_ip, "apiKey": api_key, "userAgent": single_headers.get("User-Agent")},
        },
        "body": event_body,
        "isBase64Encoded": binary and bool(body),
    }


def response_parts(proxy_response: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    """The handler's proxy response as HTTP status, headers and body bytes."""
    status = int(proxy_response.get("statusCode", 200))
    headers = [(name, str(value)) for name, value in (proxy_response.get("headers") or {}).items()]
    for name, values in (proxy_response.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    body = proxy_response.get("body") or ""
    payload = base64.b64decode(body) if proxy_response.get("isBase64Encoded") else str(body).encode()
    return status, headers, payload


GATEWAY_METRICS = ("Count", "4XXError", "5XXError", "Latency")


def gateway_metrics(api: ApiSpec, status: int, latency_ms: float, timestamp: datetime) -> list[dict]:
    """What API Gateway writes to CloudWatch (namespace AWS/ApiGateway, dimensions ApiName and Stage) for one request
    at ``timestamp``: Count, 4XXError and 5XXError (1 or 0 each, so their average is the error rate) and Latency, the
    whole request in milliseconds (AWS's developer guide, "Amazon API Gateway dimensions and metrics")."""
    dimensions = [{"Name": "ApiName", "Value": api.name}, {"Name": "Stage", "Value": api.stage}]
    measured = [(1.0, "Count"), (float(400 <= status < 500), "Count"), (float(status >= 500), "Count"),
                (latency_ms, "Milliseconds")]  # fmt: skip
    values = dict(zip(GATEWAY_METRICS, measured, strict=True))
    return [{"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit, "Timestamp": timestamp}
            for name, (value, unit) in values.items()]  # fmt: skip


class MetricsPublisher:
    """Hands the gateway's metrics to ``publish`` from its own thread, a batch at a time, as API Gateway's own
    reporting is off the request path: a request never waits for CloudWatch (moto's, in this process, and the
    alarms evaluated after it). ``flush`` waits until all are published; ``stop`` publishes what is left and ends
    the thread."""

    BATCH_REQUESTS = MAX_DATUMS_PER_CALL // len(GATEWAY_METRICS)  # PutMetricData's limit, each request's metrics

    def __init__(self, publish: Callable[[list[dict]], object]):
        self.publish = publish
        self._pending: queue.Queue[list[dict] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="twin-api-metrics", daemon=True)
        self._thread.start()

    def put(self, metric_data: list[dict]) -> None:
        self._pending.put(metric_data)

    def flush(self) -> None:
        self._pending.join()

    def stop(self) -> None:
        self._pending.put(None)  # after every batch put before it
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            batches = [self._pending.get()]
            while len(batches) < self.BATCH_REQUESTS and not self._pending.empty() and batches[-1] is not None:
                batches.append(self._pending.get())
            stopping = batches[-1] is None
            if stopping:
                batches.pop()
                self._pending.task_done()
            try:
                if batches:
                    self.publish([datum for batch in batches for datum in batch])
            except Exception:  # API Gateway's metrics never fail a request
                log.exception("publishing the API's metrics failed")
            for _ in batches:
                self._pending.task_done()
            if stopping:
                return


class LocalApi:
    """A threaded HTTP server on 127.0.0.1 that serves the template's API routes.

    ``metrics``, when set, gets each request's gateway_metrics (the twin puts them into its CloudWatch), stamped
    with ``clock``'s time when the request came in."""

    def __init__(
        self,
        api: ApiSpec,
        invoke: Invoke,
        api_key: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.api = api
        self.invoke = invoke
        self.clock = clock
        # API Gateway checks x-api-key on routes that require one; the twin makes one key per run.
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.usage_plan = UsagePlanLimits(api.usage_plan) if api.usage_plan else None
        self.integration_timeout = INTEGRATION_TIMEOUT_SECONDS
        self._integrations = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="twin-api-integration")
        self._server: ThreadingHTTPServer | None = None
        self.metrics: MetricsPublisher | None = None
        self.url = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = serve_in_background(self._handler_class(), "twin-api", host, port)
        self.url = url_of(self._server)
        return self.url

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None
        self._integrations.shutdown(wait=False, cancel_futures=True)
        if self.metrics is not None:  # before the twin stops moto: the last requests' metrics reach it
            self.metrics.stop()

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str):
        path = urlsplit(raw_path).path
        if method == "OPTIONS" and self.api.cors_headers is not None and self._is_route(path):
            # API Gateway's mock preflight: no key asked for, the function never called
            return 200, [("Content-Type", "application/json"), *self.api.cors_headers.items()], b""
        matched = match_route(self.api.routes, method, path)
        if matched is None:
            # API Gateway answers unknown routes with 403 "Missing Authentication Token"
            return self._refusal(403, {"message": "Missing Authentication Token"})
        given_key = next((value for name, value in headers if name.lower() == "x-api-key"), None)
        if matched.route.api_key_required and not (given_key and secrets.compare_digest(given_key, self.api_key)):
            return self._refusal(403, FORBIDDEN)
        if matched.route.api_key_required and self.usage_plan and (refused := self.usage_plan.refusal()):
            return self._refusal(429, refused)
        event = proxy_event(matched, method, raw_path, headers, body, self.api, source_ip, given_key)
        integration = self._integrations.submit(self.invoke, matched.route.function, event)
        try:
            payload, errored = integration.result(timeout=self.integration_timeout)
        except concurrent.futures.TimeoutError:  # the function goes on; the client is answered now
            return self._refusal(504, {"message": "Endpoint request timed out"})
        except RequestTooLarge:  # Lambda refused the event (6 MB, the body base64-encoded in it): never ran
            return self._refusal(413, {"message": "Request Too Long"})
        except Throttled:  # Lambda rejected the invocation: API Gateway answers 500
            return self._refusal(500, INTERNAL_SERVER_ERROR)
        if errored:  # the function ran and failed (its error, a timeout, a crash): 502
            log.warning("%s failed: %s", matched.route.function, payload[:500])
            return self._refusal(502, INTERNAL_SERVER_ERROR)
        try:
            return response_parts(json.loads(payload))
        except (ValueError, TypeError, AttributeError):  # not a proxy response: API Gateway's "malformed" 502
            return self._refusal(502, INTERNAL_SERVER_ERROR)

    def record(self, status: int, latency_ms: float, received: datetime) -> None:
        if self.metrics is not None:
            self.metrics.put(gateway_metrics(self.api, status, latency_ms, received))

    def _is_route(self, path: str) -> bool:
        return any(route_pattern(route.path).fullmatch(path) for route in self.api.routes)

    def _refusal(self, status: int, body: dict):
        """API Gateway's own answer (a gateway response), with the template's CORS origin when it sets one."""
        headers = [("Content-Type", "application/json")]
        origin = (self.api.cors_headers or {}).get("Access-Control-Allow-Origin")
        if origin:
            headers.append(("Access-Control-Allow-Origin", origin))
        return status, headers, json.dumps(body).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class ProxyHandler(LoopbackHandler):
            def _serve(self) -> None:
                started, received = time.monotonic(), front.clock()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, payload = front.handle(
                        self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                    )
                except Exception:  # the twin's own failure: said in its log, answered as API Gateway's 500
                    log.exception("the API front failed on %s %s", self.command, self.path)
                    status, headers = 500, [("Content-Type", "application/json")]
                    payload = json.dumps(INTERNAL_SERVER_ERROR).encode()
                front.record(status, (time.monotonic() - started) * 1000, received)
                reply(self, status, payload, headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

        return ProxyHandler
