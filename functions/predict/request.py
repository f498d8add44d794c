"""What a client may send to POST /predict, checked before anything reaches the endpoint.

Pure: no AWS, no torch. Raw image bodies (API Gateway base64-encodes them because of the API's
BinaryMediaTypes) or JSON ``{"image": "<b64>"}`` / ``{"images": [...]}``; ``top_k`` from the JSON or the
query string. Every refusal is a RequestError with the status and a message for the client.

Size limits (bytes) follow the endpoint's type (settings.serverless_endpoint()); every accepted request stays
under each limit on its way, after encoding:
- Lambda accepts a synchronous event of at most 6 MiB; API Gateway puts a binary body in it base64-encoded
  (4/3 larger). Keeping 512 KiB for the event's headers, any request may carry LAMBDA_IMAGE_BYTES
  (4,325,376 B) of images; a longer body cannot be valid and is refused before any decoding.
- InvokeEndpoint takes a body of at most 4 MB on a serverless endpoint, 6 MB on an instance one (read as
  10^6 B, the stricter reading of AWS's "MB"). One image is sent raw (its bytes are the body); a batch is
  JSON with base64 images (4/3 larger, plus 64 KiB for the JSON around them).
- So one image may be 4,000,000 B (serverless) or 4,325,376 B (instance), a batch 2,950,848 B or 4,325,376 B
  in all (payload_limits()).
"""

import base64
import binascii
import json
from dataclasses import dataclass

from model_code import serving_limits
from model_code.serving_limits import (
    IMAGE_CONTENT_TYPES,
    IMAGE_SIGNATURES,
    JSON_CONTENT_TYPE,
    MAX_BATCH_IMAGES,
)

SUPPORTED = ", ".join(sorted(IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}))
LAMBDA_EVENT_LIMIT_BYTES = 6 * 1024 * 1024
EVENT_ENVELOPE_BYTES = 512 * 1024
LAMBDA_IMAGE_BYTES = (LAMBDA_EVENT_LIMIT_BYTES - EVENT_ENVELOPE_BYTES) // 4 * 3
ENDPOINT_BODY_LIMIT_BYTES = {True: 4_000_000, False: 6_000_000}  # serverless or not
JSON_ENVELOPE_BYTES = 64 * 1024
MAGIC_NUMBERS = tuple(IMAGE_SIGNATURES)


@dataclass(frozen=True)
class PayloadLimits:
    """The most image bytes one request may carry to an endpoint of this type."""

    endpoint_kind: str
    endpoint_body: int
    single_image: int
    batch_images: int

    def for_request(self, batch: bool) -> int:
        return self.batch_images if batch else self.single_image


def payload_limits(serverless: bool) -> PayloadLimits:
    endpoint_body = ENDPOINT_BODY_LIMIT_BYTES[serverless]
    return PayloadLimits(
        endpoint_kind="serverless" if serverless else "instance",
        endpoint_body=endpoint_body,
        single_image=min(LAMBDA_IMAGE_BYTES, endpoint_body),
        batch_images=min(LAMBDA_IMAGE_BYTES, (endpoint_body - JSON_ENVELOPE_BYTES) // 4 * 3),
    )


class RequestError(Exception):
    """A refused request: its status, a message for the client and a cause, a short name the metrics count
    refusals by (a CloudWatch dimension: a few fixed values)."""

    def __init__(self, status_code: int, message: str, cause: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.cause = cause


@dataclass(frozen=True)
class PredictionRequest:
    images: list[bytes]
    top_k: int
    batch: bool

    def endpoint_payload(self) -> tuple[str, bytes]:
        """(Content-Type, body) for the endpoint: one image raw (a third smaller than base64), a batch as JSON.
        The model ranks a raw image's top MAX_TOP_K; endpoint.py keeps the first top_k of each ranking."""
        if not self.batch:
            return image_content_type(self.images[0]), self.images[0]
        encoded = [base64.b64encode(image).decode("ascii") for image in self.images]
        return JSON_CONTENT_TYPE, json.dumps({"images": encoded, "top_k": self.top_k}).encode()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_top_k(value) -> int:
    """The JSON field or the query string's ``top_k`` (a decimal string there)."""
    if value == "":
        value = None
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    try:
        return serving_limits.top_k(value)
    except ValueError as error:
        raise RequestError(400, str(error), "BadTopK") from error


URL_SCHEMES = ("http://", "https://", "s3://", "ftp://", "file://")


def image_content_type(data: bytes) -> str:
    return next(kind for signature, kind in IMAGE_SIGNATURES.items() if data.startswith(signature))


def check_image(data: bytes, what: str) -> bytes:
    if not data:
        raise RequestError(400, f"{what} is empty", "EmptyImage")
    if not data.startswith(MAGIC_NUMBERS):
        raise RequestError(400, f"{what} is not a JPEG or PNG image", "NotAnImage")
    return data


def decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        hint = " (URLs are not fetched: send the image's bytes)" if text.lstrip().startswith(URL_SCHEMES) else ""
        raise RequestError(400, f"{what} is not valid base64: {error}{hint}", "MalformedBase64") from error


def parse_json_body(text: str, query_top_k: str | None) -> PredictionRequest:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"malformed JSON: {error.msg} at position {error.pos}", "MalformedJson") from error
    if not isinstance(payload, dict) or ("image" in payload) == ("images" in payload):
        raise RequestError(400, 'the JSON body must be an object with either "image" or "images"', "BadJsonFields")
    batch = "images" in payload
    items = payload["images"] if batch else [payload["image"]]
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        field = '"images" must be a non-empty list' if batch else '"image" must be a string'
        raise RequestError(400, f"{field} of base64-encoded JPEG or PNG", "BadJsonFields")
    if len(items) > MAX_BATCH_IMAGES:
        raise RequestError(413, f"at most {MAX_BATCH_IMAGES} images per request, got {len(items)}", "TooManyImages")
    images = [check_image(decode_base64(item, f"image {index}"), f"image {index}") for index, item in enumerate(items)]
    return PredictionRequest(images, parse_top_k(payload.get("top_k", query_top_k)), batch)


def parse_request(
    content_type: str | None, body: str | None, is_base64_encoded: bool, query_top_k: str | None, serverless: bool
) -> PredictionRequest:
    """The API Gateway proxy event's pieces -> a checked request (or RequestError), sized for the endpoint type."""
    limits = payload_limits(serverless)
    kind = media_type(content_type)
    if not kind:
        raise RequestError(415, f"missing Content-Type: send {SUPPORTED}", "MissingContentType")
    if kind not in IMAGE_CONTENT_TYPES and kind != JSON_CONTENT_TYPE:
        raise RequestError(415, f"unsupported Content-Type {kind[:100]!r}: send {SUPPORTED}", "UnsupportedContentType")
    if not body:
        raise RequestError(400, "empty body: send an image", "EmptyBody")
    if len(body) > LAMBDA_EVENT_LIMIT_BYTES:
        raise RequestError(413, f"body too large: at most {limits.single_image} bytes of image per request", "TooLarge")
    if kind == JSON_CONTENT_TYPE:
        text = decode_base64(body, "body").decode("utf-8", "replace") if is_base64_encoded else body
        request = parse_json_body(text, query_top_k)
    else:
        # Without BinaryMediaTypes API Gateway would hand over text, and the magic-byte check refuses it.
        data = decode_base64(body, "body") if is_base64_encoded else body.encode("latin-1", "replace")
        request = PredictionRequest([check_image(data, "body")], parse_top_k(query_top_k), batch=False)
    total, limit = sum(len(image) for image in request.images), limits.for_request(request.batch)
    if total > limit:
        what = "a batch's images" if request.batch else "one image"
        raise RequestError(
            413,
            f"images too large: {total} bytes, at most {limit} bytes for {what} on this API "
            f"({limits.endpoint_kind} endpoint: {limits.endpoint_body} bytes per call)",
            "TooLarge",
        )
    return request
