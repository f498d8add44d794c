"""The front door the functions and the jobs reach moto through: each call authorized as AWS would, then passed on.

Every Lambda and every SageMaker job of the twin gets this server as its ``AWS_ENDPOINT_URL`` and the
temporary credentials of its role. For each request the gateway finds the caller (iam.principal_of), the
IAM action, the resource ARN and the condition keys the call carries (``s3:prefix`` for a listing, the
source object of a copy, ...), asks iam.authorize, and forwards what is allowed to moto unchanged. A denied
call gets the service's own error (S3's 403 AccessDenied XML, the JSON services' AccessDeniedException, SNS's
AuthorizationError).

S3's documented rule for a missing key is kept too: GetObject/HeadObject on a key that does not exist answer
404 only to a caller that may ``s3:ListBucket`` the bucket, 403 AccessDenied to everyone else.

A call the table below does not know is refused with a message that says so: the twin never lets an
unmodelled call through unchecked.
"""

import http.client
import io
import json
import logging
import uuid
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.parsers import BaseCBORParser

from local_twin import iam
from local_twin.account import ACCOUNT_ID, PARTITION
from local_twin.iam import AccessDenied, InvalidCredentials, Request
from local_twin.loopback import LoopbackHandler, serve_in_background, shut_down, url_of

log = logging.getLogger(__name__)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class UnknownCall(Exception):
    """A call whose action or resource the gateway cannot tell (so it cannot be authorized)."""


# --- S3 (REST) ------------------------------------------------------------------------------------------------


def s3_object_arn(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


# Object sub-resources (the query parameter that names the call) -> (action, its action on a version given by
# versionId), per method: each is its own IAM action, not GetObject/PutObject (the operations' API reference
# pages; Multipart upload API and permissions: ListParts needs s3:ListMultipartUploadParts, aborting an upload
# s3:AbortMultipartUpload, creating, uploading a part and completing s3:PutObject).
_OBJECT_SUBRESOURCES = {
    ("GET", "tagging"): ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
    ("PUT", "tagging"): ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    ("DELETE", "tagging"): ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    ("GET", "acl"): ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
    ("PUT", "acl"): ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
    ("GET", "uploadId"): ("s3:ListMultipartUploadParts", None),  # ListParts
    ("DELETE", "uploadId"): ("s3:AbortMultipartUpload", None),
    ("POST", "uploads"): ("s3:PutObject", None),  # CreateMultipartUpload
    ("POST", "uploadId"): ("s3:PutObject", None),  # CompleteMultipartUpload
}
# Query parameters that select nothing: the object's version, a part, a listing's page, response headers.
_PLAIN_QUERY = {"versionId", "partNumber", "max-parts", "part-number-marker"}
# PutObject's headers that need more than s3:PutObject (PutObject's API reference: "s3:PutObjectAcl - To
# successfully change the objects ACL ..., s3:PutObjectTagging - To successfully set the tag-set ...").
_ACL_HEADERS = ("x-amz-acl", "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                "x-amz-grant-write-acp")  # fmt: skip


def s3_requests(method: str, path: str, query: dict[str, list[str]], headers) -> list[Request]:
    """The IAM actions one S3 request needs (path-style addressing, as boto3 uses against an IP endpoint)."""
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    if not bucket:
        raise UnknownCall(f"S3 {method} {path}: service-level calls (ListBuckets) are not modelled")
    if not key:
        return _bucket_requests(method, bucket, query)
    object_arn = s3_object_arn(bucket, key)
    versioned = "versionId" in query
    selectors = {name for name in query if name not in _PLAIN_QUERY and not name.startswith("response-")}
    if method == "PUT" and selectors == {"uploadId"}:  # UploadPart, UploadPartCopy
        return [Request("s3:PutObject", object_arn), *_copy_source(headers)]
    if method == "GET" and selectors == {"attributes"}:
        # GetObjectAttributes' API reference: "If you pass a version ID in your request, you need both the
        # s3:GetObjectVersion and s3:GetObjectVersionAttributes permissions. If you do not pass a version ID
        # in your request, you need the s3:GetObject and s3:GetObjectAttributes permissions."
        if versioned:
            return [Request("s3:GetObjectVersion", object_arn), Request("s3:GetObjectVersionAttributes", object_arn)]
        return [Request("s3:GetObject", object_arn), Request("s3:GetObjectAttributes", object_arn)]
    if len(selectors) == 1 and (method, *selectors) in _OBJECT_SUBRESOURCES:
        action, version_action = _OBJECT_SUBRESOURCES[(method, *selectors)]
        return [Request(version_action if versioned and version_action else action, object_arn)]
    if selectors:
        raise UnknownCall(f"S3 {method} {path}?{'&'.join(sorted(selectors))} is not modelled by the twin's IAM gateway")
    if method in ("GET", "HEAD"):
        return [Request("s3:GetObjectVersion" if versioned else "s3:GetObject", object_arn)]
    if method == "DELETE":
        return [Request("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", object_arn)]
    if method == "PUT":  # PutObject, CopyObject
        needed = [Request("s3:PutObject", object_arn), *_copy_source(headers)]
        if headers.get("x-amz-tagging"):
            needed.append(Request("s3:PutObjectTagging", object_arn))
        if any(headers.get(header) for header in _ACL_HEADERS):
            needed.append(Request("s3:PutObjectAcl", object_arn))
        return needed
    raise UnknownCall(f"S3 {method} {path} is not modelled by the twin's IAM gateway")


def _bucket_requests(method: str, bucket: str, query: dict[str, list[str]]) -> list[Request]:
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    prefix = query.get("prefix", [None])[0]
    if method == "GET" and not set(query) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                              "start-after", "encoding-type", "fetch-owner", "marker"}:  # fmt: skip
        return [Request("s3:ListBucket", bucket_arn, {"s3:prefix": prefix} if prefix is not None else {})]
    if method == "GET" and "versions" in query:
        return [Request("s3:ListBucketVersions", bucket_arn, {"s3:prefix": prefix} if prefix else {})]
    if method == "GET" and "uploads" in query:  # ListMultipartUploads
        return [Request("s3:ListBucketMultipartUploads", bucket_arn)]
    if method == "GET" and "location" in query:
        return [Request("s3:GetBucketLocation", bucket_arn)]
    if method == "HEAD":
        return [Request("s3:ListBucket", bucket_arn)]
    raise UnknownCall(f"S3 {method} /{bucket}?{'&'.join(query)} is not modelled by the twin's IAM gateway")


def _copy_source(headers) -> list[Request]:
    """CopyObject and UploadPartCopy read their source: s3:GetObject, s3:GetObjectVersion for a given version."""
    copy_source = headers.get("x-amz-copy-source")
    if not copy_source:
        return []
    source, _, source_version = unquote(copy_source).lstrip("/").partition("?versionId=")
    return [Request("s3:GetObjectVersion" if source_version else "s3:GetObject", f"arn:{PARTITION}:s3:::{source}")]


# --- JSON and query protocol services -------------------------------------------------------------------------


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _alarm_arns(names: list[str], region: str) -> list[str]:
    return [_arn("cloudwatch", region, f"alarm:{name}") for name in names] or ["*"]


def _log_group_arn(name: str, region: str) -> str:
    return _arn("logs", region, f"log-group:{name}")


def _event_bus_arn(name: str | None, region: str) -> str:
    return name if name and name.startswith("arn:") else _arn("events", region, f"event-bus/{name or 'default'}")


# (service, operation) -> the resource ARN(s) of the call, from its parameters
_RESOURCES: dict[tuple[str, str], Callable[[dict, str], list[str]]] = {
    ("states", "StartExecution"): lambda p, r: [p["stateMachineArn"]],
    ("states", "StartSyncExecution"): lambda p, r: [p["stateMachineArn"]],
    ("states", "ListExecutions"): lambda p, r: [p["stateMachineArn"]],
    ("states", "DescribeStateMachine"): lambda p, r: [p["stateMachineArn"]],
    ("states", "DescribeExecution"): lambda p, r: [p["executionArn"]],
    ("states", "GetExecutionHistory"): lambda p, r: [p["executionArn"]],
    ("states", "StopExecution"): lambda p, r: [p["executionArn"]],
    ("sns", "Publish"): lambda p, r: [p.get("TopicArn") or p["TargetArn"]],
    ("events", "PutEvents"): lambda p, r: [_event_bus_arn(entry.get("EventBusName"), r) for entry in p["Entries"]],
    ("sqs", "SendMessage"): lambda p, r: [_arn("sqs", r, p["QueueUrl"].rstrip("/").rsplit("/", 1)[1])],
    ("monitoring", "PutMetricData"): lambda p, r: ["*"],  # no resource-level scope: cloudwatch:namespace
    ("monitoring", "GetMetricData"): lambda p, r: ["*"],
    ("monitoring", "GetMetricStatistics"): lambda p, r: ["*"],
    ("monitoring", "ListMetrics"): lambda p, r: ["*"],
    ("monitoring", "DescribeAlarms"): lambda p, r: _alarm_arns(p.get("AlarmNames", []), r),
    # CloudWatch Logs, as SageMaker writes a job's or an endpoint's logs with its execution role: the group, or the
    # stream for PutLogEvents (service authorization reference, resource types log-group and log-stream)
    ("logs", "CreateLogGroup"): lambda p, r: [_log_group_arn(p["logGroupName"], r)],
    ("logs", "CreateLogStream"): lambda p, r: [_log_group_arn(p["logGroupName"], r)],
    ("logs", "DescribeLogStreams"): lambda p, r: [_log_group_arn(p["logGroupName"], r)],
    ("logs", "PutLogEvents"): lambda p, r: [f"{_log_group_arn(p['logGroupName'], r)}:log-stream:{p['logStreamName']}"],
}
_CONTEXT: dict[tuple[str, str], Callable[[dict], dict]] = {
    ("monitoring", "PutMetricData"): lambda p: {"cloudwatch:namespace": p["Namespace"]},
}
_ACTION_PREFIX = {
    "states": "states", "sns": "sns", "events": "events", "sqs": "sqs", "monitoring": "cloudwatch", "logs": "logs",
}  # fmt: skip


def service_requests(service: str, operation: str, params: dict, region: str) -> list[Request]:
    resources = _RESOURCES.get((service, operation))
    if resources is None:
        raise UnknownCall(
            f"{service}:{operation} is not modelled by the twin's IAM gateway (local_twin/iam_gateway.py): "
            "add its resource there"
        )
    context = _CONTEXT.get((service, operation), lambda p: {})(params)
    action = f"{_ACTION_PREFIX[service]}:{operation}"
    return [Request(action, arn, context) for arn in resources(params, region)]


# --- the server -------------------------------------------------------------------------------------------------


class IamGateway:
    """An HTTP server on 127.0.0.1 in front of moto (``moto_url``)."""

    def __init__(self, moto_url: str, denials: iam.DenialLog):
        self.moto = urlsplit(moto_url)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.denials = denials

    def start(self) -> str:
        gateway = self

        class Handler(LoopbackHandler):
            def do_GET(self):
                gateway.handle(self)

            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

        self._server = serve_in_background(Handler, "iam-gateway")
        self.url = url_of(self._server)
        return self.url

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None

    def handle(self, handler: LoopbackHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        split = urlsplit(handler.path)
        query = parse_qs(split.query, keep_blank_values=True)
        head = handler.command == "HEAD"  # a HEAD answer has headers only
        cbor = handler.headers.get("smithy-protocol") == "rpc-v2-cbor"
        try:
            _, region, service = iam.credential_scope(handler.headers)
            principal = iam.principal_of(handler.headers)
            if service == "s3":
                needed = s3_requests(handler.command, split.path, query, handler.headers)
            else:
                operation, params = _operation(handler.headers, body, query, split.path)
                needed = service_requests(service, operation, params, region)
            iam.authorize(principal, needed, self.denials)
        except InvalidCredentials as error:
            return _send(handler, *_invalid_credentials(service_of(handler.headers), str(error)), head=head)
        except AccessDenied as error:
            return _send(handler, *_denied(service_of(handler.headers), error.message, cbor), head=head)
        except UnknownCall as error:
            return _send(handler, *_denied(service_of(handler.headers), str(error), cbor), head=head)
        except Exception as error:  # a bug of the twin's, not a denial: say so rather than drop the connection
            log.exception("IAM gateway failed on %s %s", handler.command, handler.path)
            message = json.dumps({"__type": "InternalFailure", "message": f"twin IAM gateway: {error!r}"}).encode()
            return _send(handler, 500, [("Content-Type", "application/json")], message, head=head)
        status, headers, payload = self._forward(handler, body)
        if status == 404 and needed[0].action in ("s3:GetObject", "s3:GetObjectVersion"):
            bucket = unquote(split.path.lstrip("/").partition("/")[0])
            if not iam.allows(principal, Request("s3:ListBucket", f"arn:{PARTITION}:s3:::{bucket}")):
                return _send(handler, *_denied("s3", "Access Denied"), head=head)
        _send(handler, status, headers, payload, head=head)

    def _forward(self, handler: LoopbackHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=600)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            connection.close()


def service_of(headers) -> str:
    try:
        return iam.credential_scope(headers)[2]
    except InvalidCredentials:
        return "unknown"


def _operation(headers, body: bytes, query: dict, path: str) -> tuple[str, dict]:
    target = headers.get("X-Amz-Target")
    if target:  # awsJson: Service_Version.Operation
        return target.rsplit(".", 1)[1], json.loads(body or b"{}")
    if headers.get("smithy-protocol") == "rpc-v2-cbor":  # /service/<Service>/operation/<Operation> (CloudWatch)
        return path.rsplit("/", 1)[1], (BaseCBORParser().parse_data_item(io.BytesIO(body)) if body else {})
    form = {key: values[0] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
    form |= {key: values[0] for key, values in query.items()}
    if "Action" not in form:
        raise UnknownCall("a request with neither X-Amz-Target nor Action is not modelled by the twin's IAM gateway")
    return form.pop("Action"), form


def _denied(service: str, message: str, cbor: bool = False) -> tuple[int, list, bytes]:
    request_id = uuid.uuid4().hex.upper()[:16]
    if cbor:
        body = _cbor_map({"__type": "AccessDeniedException", "message": message})
        return 400, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], body
    if service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>{_xml(message)}'
            f"</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return 403, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
    if service in ("sns", "sqs"):
        code = "AuthorizationError" if service == "sns" else "AccessDenied"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return 403, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    return 400, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)], body


def _invalid_credentials(service: str, message: str) -> tuple[int, list, bytes]:
    if service == "s3":
        body = f"<Error><Code>InvalidAccessKeyId</Code><Message>{_xml(message)}</Message></Error>".encode()
        return 403, [("Content-Type", "application/xml")], body
    body = json.dumps({"__type": "UnrecognizedClientException", "message": message}).encode()
    return 400, [("Content-Type", "application/x-amz-json-1.0")], body


def _cbor_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949 major types 5 and 3): an error body for an rpc-v2-cbor client."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        size = 1 if length < 0x100 else 2 if length < 0x10000 else 4
        return bytes([major << 5 | {1: 24, 2: 25, 4: 26}[size]]) + length.to_bytes(size, "big")

    def text(value: str) -> bytes:
        data = value.encode()
        return head(3, len(data)) + data

    return head(5, len(fields)) + b"".join(text(key) + text(value) for key, value in fields.items())


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _send(handler, status: int, headers: list[tuple[str, str]], payload: bytes, head: bool = False) -> None:
    handler.send_response(status)
    sent_length = False
    for key, value in headers:
        if key.lower() in _HOP_BY_HOP or key.lower() in ("server", "date"):
            continue
        if key.lower() == "content-length":
            sent_length = True
        handler.send_header(key, value)
    if not sent_length:
        handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if not head and payload:
        handler.wfile.write(payload)
