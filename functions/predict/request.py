"""What a client may send to POST /predict, checked before anything reaches the endpoint.

Pure: no AWS, no torch. Raw image bodies (API Gateway base64-encodes them because of the API's
BinaryMediaTypes) or JSON ``{"image": "<b64>"}`` / ``{"images": [...]}``; ``top_k`` from the JSON or the
query string. Every refusal is a RequestError with the status and a message for the client.

Size limits (bytes), derived below from the two 6 MB limits on the way to the model:
- Lambda accepts a synchronous event of at most 6 MB. API Gateway puts a binary body in the event
  base64-encoded (4/3 larger); bigger requests never reach this code.
- The images then travel on to InvokeEndpoint (6 MB body) base64-encoded inside JSON again.
- So the decoded images of one request may total MAX_IMAGE_BYTES (4,325,376 B, 5.5 MiB as base64),
  keeping 512 KiB on both hops for the event's headers and the JSON around the images.
- A body longer than the payload limit itself cannot be valid: it is refused before any decoding.
"""

import base64
import binascii
import json
from dataclasses import dataclass

# application/x-image is what SageMaker's own examples send; BinaryMediaTypes lists it with the other two.
IMAGE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "application/x-image"})
JSON_CONTENT_TYPE = "application/json"
SUPPORTED = ", ".join(sorted(IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}))
DEFAULT_TOP_K = 5
MAX_TOP_K = 10
# A small batch; the endpoint (model_code/inference.py) accepts up to 16, the payload limits favour fewer.
MAX_BATCH_IMAGES = 8
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous event and InvokeEndpoint's body alike
ENVELOPE_BYTES = 512 * 1024
MAX_IMAGE_BYTES = (PAYLOAD_LIMIT_BYTES - ENVELOPE_BYTES) // 4 * 3
MAGIC_NUMBERS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG SOI + marker, PNG signature


class RequestError(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class PredictionRequest:
    images: list[bytes]
    top_k: int
    batch: bool

    def endpoint_body(self) -> bytes:
        """What the endpoint receives: always a JSON batch, so top_k reaches the model for raw images too."""
        encoded = [base64.b64encode(image).decode("ascii") for image in self.images]
        return json.dumps({"images": encoded, "top_k": self.top_k}).encode()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_top_k(value) -> int:
    if value is None or value == "":
        return DEFAULT_TOP_K
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise RequestError(400, f"top_k must be an integer from 1 to {MAX_TOP_K}, got {value!r}"[:200])
    return value


URL_SCHEMES = ("http://", "https://", "s3://", "ftp://", "file://")


def check_image(data: bytes, what: str) -> bytes:
    if not data:
        raise RequestError(400, f"{what} is empty")
    if not data.startswith(MAGIC_NUMBERS):
        raise RequestError(400, f"{what} is not a JPEG or PNG image")
    return data


def decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        hint = " (URLs are not fetched: send the image's bytes)" if text.lstrip().startswith(URL_SCHEMES) else ""
        raise RequestError(400, f"{what} is not valid base64: {error}{hint}") from error


def parse_json_body(text: str, query_top_k: str | None) -> PredictionRequest:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"malformed JSON: {error.msg} at position {error.pos}") from error
    if not isinstance(payload, dict) or ("image" in payload) == ("images" in payload):
        raise RequestError(400, 'the JSON body must be an object with either "image" or "images"')
    batch = "images" in payload
    items = payload["images"] if batch else [payload["image"]]
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        field = '"images" must be a non-empty list' if batch else '"image" must be a string'
        raise RequestError(400, f"{field} of base64-encoded JPEG or PNG")
    if len(items) > MAX_BATCH_IMAGES:
        raise RequestError(413, f"at most {MAX_BATCH_IMAGES} images per request, got {len(items)}")
    images = [check_image(decode_base64(item, f"image {index}"), f"image {index}") for index, item in enumerate(items)]
    return PredictionRequest(images, parse_top_k(payload.get("top_k", query_top_k)), batch)


def parse_request(
    content_type: str | None, body: str | None, is_base64_encoded: bool, query_top_k: str | None
) -> PredictionRequest:
    """The API Gateway proxy event's pieces -> a checked request (or RequestError)."""
    kind = media_type(content_type)
    if not kind:
        raise RequestError(415, f"missing Content-Type: send {SUPPORTED}")
    if kind not in IMAGE_CONTENT_TYPES and kind != JSON_CONTENT_TYPE:
        raise RequestError(415, f"unsupported Content-Type {kind[:100]!r}: send {SUPPORTED}")
    if not body:
        raise RequestError(400, "empty body: send an image")
    if len(body) > PAYLOAD_LIMIT_BYTES:
        raise RequestError(413, f"body too large: at most {MAX_IMAGE_BYTES} bytes of images per request")
    if kind == JSON_CONTENT_TYPE:
        text = decode_base64(body, "body").decode("utf-8", "replace") if is_base64_encoded else body
        request = parse_json_body(text, query_top_k)
    else:
        # Without BinaryMediaTypes API Gateway would hand over text, and the magic-byte check refuses it.
        data = decode_base64(body, "body") if is_base64_encoded else body.encode("latin-1", "replace")
        request = PredictionRequest([check_image(data, "body")], parse_top_k(query_top_k), batch=False)
    total = sum(len(image) for image in request.images)
    if total > MAX_IMAGE_BYTES:
        raise RequestError(413, f"images too large: {total} bytes in all, at most {MAX_IMAGE_BYTES} per request")
    return request
