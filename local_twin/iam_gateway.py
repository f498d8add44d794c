"""The front door the functions and the jobs reach moto through: each call authorized as AWS would, then passed on.

Every Lambda and every SageMaker job of the twin gets this server as its ``AWS_ENDPOINT_URL`` and the
temporary credentials of its role. For each request the gateway finds the caller (iam.Directory), the
operation, its IAM actions (iam_actions.py, the table the local SageMaker and the least-privilege test read too),
the resource ARN and the condition keys the call carries (``s3:prefix`` for a listing, the source object of a
copy, ...), asks iam.authorize, and forwards what is allowed to moto unchanged. A denied
call gets the service's own error (S3's 403 AccessDenied XML, the JSON services' AccessDeniedException, SNS's
AuthorizationError).

S3's documented rule for a missing key is kept too: GetObject/HeadObject on a key that does not exist answer
404 only to a caller that may ``s3:ListBucket`` the bucket, 403 AccessDenied to everyone else.

A call whose resource the tables below do not know is refused with a message that says so: the twin never lets an
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
from local_twin.iam_actions import IMPLIED_ACTIONS, actions_of
from local_twin.loopback import HOP_BY_HOP, LoopbackHandler, reply, serve_in_background, shut_down, url_of

log = logging.getLogger(__name__)


class UnknownCall(Exception):
    """A call whose action or resource the gateway cannot tell (so it cannot be authorized)."""


# --- S3 (REST) ------------------------------------------------------------------------------------------------


def s3_object_arn(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


# Object sub-resources (the query parameter that names the call), per method -> the S3 operation; its actions are
# in iam_actions.S3_OPERATIONS.
_OBJECT_SUBRESOURCES = {
    ("GET", "tagging"): "GetObjectTagging",
    ("PUT", "tagging"): "PutObjectTagging",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("GET", "acl"): "GetObjectAcl",
    ("PUT", "acl"): "PutObjectAcl",
    ("GET", "attributes"): "GetObjectAttributes",
    ("GET", "uploadId"): "ListParts",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("PUT", "uploadId"): "UploadPart",  # UploadPartCopy with a copy source
    ("POST", "uploads"): "CreateMultipartUpload",
    ("POST", "uploadId"): "CompleteMultipartUpload",
}
_PLAIN_OBJECT_CALLS = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject", "PUT": "PutObject"}
# Query parameters that select nothing: the object's version, a part, a listing's page, response headers.
_PLAIN_QUERY = {"versionId", "partNumber", "max-parts", "part-number-marker"}
_LISTING_QUERY = {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
                  "encoding-type", "fetch-owner", "marker"}  # fmt: skip
# PutObject's headers that need more than s3:PutObject (PutObject's API reference: "s3:PutObjectAcl - To
# successfully change the objects ACL ..., s3:PutObjectTagging - To successfully set the tag-set ...").
_ACL_HEADERS = ("x-amz-acl", "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                "x-amz-grant-write-acp")  # fmt: skip


def s3_operation(method: str, path: str, query: dict[str, list[str]], headers) -> str:
    """The S3 operation of a REST request (path-style addressing, as boto3 uses against an IP endpoint)."""
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    if not bucket:
        raise UnknownCall(f"S3 {method} {path}: service-level calls (ListBuckets) are not modelled")
    if not key:
        if method == "GET" and not set(query) - _LISTING_QUERY:
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        for name, operation in (("versions", "ListObjectVersions"), ("uploads", "ListMultipartUploads"),
                                ("location", "GetBucketLocation")):  # fmt: skip
            if method == "GET" and name in query:
                return operation
        if method == "HEAD":
            return "HeadBucket"
        raise UnknownCall(f"S3 {method} /{bucket}?{'&'.join(query)} is not modelled by the twin's IAM gateway")
    selectors = {name for name in query if name not in _PLAIN_QUERY and not name.startswith("response-")}
    copies = bool(headers.get("x-amz-copy-source"))
    if not selectors and method in _PLAIN_OBJECT_CALLS:
        return "CopyObject" if method == "PUT" and copies else _PLAIN_OBJECT_CALLS[method]
    if len(selectors) == 1 and (method, *selectors) in _OBJECT_SUBRESOURCES:
        operation = _OBJECT_SUBRESOURCES[(method, *selectors)]
        return "UploadPartCopy" if operation == "UploadPart" and copies else operation
    suffix = f"?{'&'.join(sorted(selectors))}" if selectors else ""
    raise UnknownCall(f"S3 {method} {path}{suffix} is not modelled by the twin's IAM gateway")


def s3_requests(method: str, path: str, query: dict[str, list[str]], headers) -> list[Request]:
    """The IAM requests one S3 request makes: its operation's actions on the bucket or object, the copy's source,
    the tags and ACL a PutObject sets."""
    operation = s3_operation(method, path, query, headers)
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    resource = s3_object_arn(bucket, key) if key else f"arn:{PARTITION}:s3:::{bucket}"
    prefix = query.get("prefix", [None])[0]
    listing = operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions")
    context = {"s3:prefix": prefix} if listing and prefix is not None else {}  # the listing's condition key
    actions = actions_of("s3", operation, versioned="versionId" in query)
    needed = [Request(action, resource, context) for action in actions]
    if operation in ("CopyObject", "UploadPartCopy"):
        needed += _copy_source(headers)
    if operation in ("PutObject", "CopyObject"):
        if headers.get("x-amz-tagging"):
            needed.append(Request("s3:PutObjectTagging", resource))
        if any(headers.get(header) for header in _ACL_HEADERS):
            needed.append(Request("s3:PutObjectAcl", resource))
    return needed


def _copy_source(headers) -> list[Request]:
    """CopyObject and UploadPartCopy read their source: s3:GetObject, s3:GetObjectVersion for a given version."""
    source, _, source_version = unquote(headers["x-amz-copy-source"]).lstrip("/").partition("?versionId=")
    read = actions_of("s3", "GetObject", versioned=bool(source_version))
    return [Request(action, f"arn:{PARTITION}:s3:::{source}") for action in read]


# --- JSON and query protocol services -------------------------------------------------------------------------


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _alarm_arns(names: list[str], region: str) -> list[str]:
    return [_arn("cloudwatch", region, f"alarm:{name}") for name in names] or ["*"]


def _log_group_arn(name: str, region: str) -> str:
    return _arn("logs", region, f"log-group:{name}")


def _event_bus_arn(name: str | None, region: str) -> str:
    return name if name and name.startswith("arn:") else _arn("events", region, f"event-bus/{name or 'default'}")


def _scalable_target_arn(params: dict, region: str) -> list[str]:
    # The target's ARN ends in an id Application Auto Scaling makes at registration: a policy scopes it with
    # scalable-target/* and the condition keys (service authorization reference, "Application Auto Scaling").
    return [_arn("application-autoscaling", region, "scalable-target/twin")]


def _scaling_context(params: dict) -> dict:
    return {
        "application-autoscaling:service-namespace": params["ServiceNamespace"],
        "application-autoscaling:scalable-dimension": params.get("ScalableDimension", ""),
    }


def _variant_endpoint_arn(params: dict, region: str) -> str:
    kind, endpoint, *_ = params["ResourceId"].split("/")  # endpoint/<name>/variant/<variant>
    if params["ServiceNamespace"] != "sagemaker" or kind != "endpoint":
        raise UnknownCall(f"the twin's IAM gateway models SageMaker variants only, not {params['ResourceId']!r}")
    return _arn("sagemaker", region, f"endpoint/{endpoint.lower()}")


# Application Auto Scaling's service-linked role for SageMaker variants, made at the account's first registration
SCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
SCALING_ROLE = f"role/aws-service-role/{SCALING_SERVICE}/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"


def _target_tracking_alarms(params: dict, region: str) -> str:
    # a target-tracking policy's alarms are named after its target: TargetTracking-<resource id>-AlarmHigh-<id>
    return _arn("cloudwatch", region, f"alarm:TargetTracking-{params['ResourceId']}-AlarmHigh-twin")


# What an Application Auto Scaling call on a SageMaker variant asks besides its own action: IMPLIED_ACTIONS names
# the actions; this table gives each one's resource and condition keys from the call's parameters.
SCALING_IMPLIED: dict[str, Callable[[dict, str], tuple[str, dict]]] = {
    "iam:CreateServiceLinkedRole": lambda p, r: (
        f"arn:{PARTITION}:iam::{ACCOUNT_ID}:{SCALING_ROLE}",
        {"iam:AWSServiceName": SCALING_SERVICE},
    ),
    "sagemaker:DescribeEndpoint": lambda p, r: (_variant_endpoint_arn(p, r), {}),
    "sagemaker:UpdateEndpointWeightsAndCapacities": lambda p, r: (_variant_endpoint_arn(p, r), {}),
    "cloudwatch:PutMetricAlarm": lambda p, r: (_target_tracking_alarms(p, r), {}),
    "cloudwatch:DescribeAlarms": lambda p, r: (_target_tracking_alarms(p, r), {}),
    "cloudwatch:DeleteAlarms": lambda p, r: (_target_tracking_alarms(p, r), {}),
}
# Implied, but not asked: the request does not name the resource (the endpoint's live configuration).
SCALING_IMPLIED_NOT_ASKED = frozenset({"sagemaker:DescribeEndpointConfig"})


def _implied_requests(service: str, action: str, params: dict, region: str) -> list[Request]:
    if service != "application-autoscaling":  # SageMaker's own implied actions are asked by the local SageMaker
        return []
    return [
        Request(implied, *SCALING_IMPLIED[implied](params, region))
        for implied in IMPLIED_ACTIONS.get(action, ())
        if implied not in SCALING_IMPLIED_NOT_ASKED
    ]


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
    ("application-autoscaling", "DescribeScalableTargets"): lambda p, r: ["*"],  # no resource-level scope
    ("application-autoscaling", "RegisterScalableTarget"): _scalable_target_arn,
    ("application-autoscaling", "PutScalingPolicy"): _scalable_target_arn,
    ("application-autoscaling", "DeregisterScalableTarget"): _scalable_target_arn,
}
_CONTEXT: dict[tuple[str, str], Callable[[dict], dict]] = {
    ("monitoring", "PutMetricData"): lambda p: {"cloudwatch:namespace": p["Namespace"]},
    ("application-autoscaling", "RegisterScalableTarget"): _scaling_context,
    ("application-autoscaling", "PutScalingPolicy"): _scaling_context,
    ("application-autoscaling", "DeregisterScalableTarget"): _scaling_context,
}


def service_requests(service: str, operation: str, params: dict, region: str) -> list[Request]:
    resources = _RESOURCES.get((service, operation))
    if resources is None:
        raise UnknownCall(
            f"{service}:{operation} is not modelled by the twin's IAM gateway (local_twin/iam_gateway.py): "
            "add its resource there"
        )
    context = _CONTEXT.get((service, operation), lambda p: {})(params)
    (action,) = actions_of(service, operation)
    also = _implied_requests(service, action, params, region)
    return [Request(action, arn, context) for arn in resources(params, region)] + also


# --- the server -------------------------------------------------------------------------------------------------


class IamGateway:
    """An HTTP server on 127.0.0.1 in front of moto (``moto_url``), deciding with that moto's IAM (``directory``)."""

    def __init__(self, moto_url: str, directory: iam.Directory, denials: iam.DenialLog):
        self.moto = urlsplit(moto_url)
        self.directory = directory
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
            principal = self.directory.principal_of(handler.headers)
            if service == "s3":
                needed = s3_requests(handler.command, split.path, query, handler.headers)
            else:
                operation, params = _operation(handler.headers, body, query, split.path)
                needed = service_requests(service, operation, params, region)
            iam.authorize(principal, needed, self.denials)
        except InvalidCredentials as error:
            return reply(handler, *_invalid_credentials(service_of(handler.headers), str(error)), head=head)
        except AccessDenied as error:
            return reply(handler, *_denied(service_of(handler.headers), error.message, cbor), head=head)
        except UnknownCall as error:
            return reply(handler, *_denied(service_of(handler.headers), str(error), cbor), head=head)
        except Exception as error:  # a bug of the twin's, not a denial: say so rather than drop the connection
            log.exception("IAM gateway failed on %s %s", handler.command, handler.path)
            message = json.dumps({"__type": "InternalFailure", "message": f"twin IAM gateway: {error!r}"}).encode()
            return reply(handler, 500, message, {"Content-Type": "application/json"}, head=head)
        status, payload, headers = self._forward(handler, body)
        if status == 404 and needed[0].action in ("s3:GetObject", "s3:GetObjectVersion"):
            bucket = unquote(split.path.lstrip("/").partition("/")[0])
            if not iam.allows(principal, Request("s3:ListBucket", f"arn:{PARTITION}:s3:::{bucket}")):
                return reply(handler, *_denied("s3", "Access Denied"), head=head)
        reply(handler, status, payload, headers, head=head)

    def _forward(self, handler: LoopbackHandler, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=600)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return response.status, payload, response.getheaders()
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


def _denied(service: str, message: str, cbor: bool = False) -> tuple[int, bytes, list]:
    request_id = uuid.uuid4().hex.upper()[:16]
    if cbor:
        body = _cbor_map({"__type": "AccessDeniedException", "message": message})
        return 400, body, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    if service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>{_xml(message)}'
            f"</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return 403, body, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    if service in ("sns", "sqs"):
        code = "AuthorizationError" if service == "sns" else "AccessDenied"
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return 403, body, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    return 400, body, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]


def _invalid_credentials(service: str, message: str) -> tuple[int, bytes, list]:
    if service == "s3":
        body = f"<Error><Code>InvalidAccessKeyId</Code><Message>{_xml(message)}</Message></Error>".encode()
        return 403, body, [("Content-Type", "application/xml")]
    body = json.dumps({"__type": "UnrecognizedClientException", "message": message}).encode()
    return 400, body, [("Content-Type", "application/x-amz-json-1.0")]


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
