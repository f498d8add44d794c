"""What a client may send to POST /predict, checked before anything reaches the endpoint.

Pure: no AWS, no torch. Raw image bodies (API Gateway base64-encodes them because of the API's
BinaryMediaTypes) or JSON ``{"image": "<b64>"}`` / ``{"images": [...]}``; ``top_k`` from the JSON or the
query string. Every refusal is a RequestError with the status and a message for the client.
"""

import base64
import binascii
import json
from dataclasses import dataclass

IMAGE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png"})
JSON_CONTENT_TYPE = "application/json"
DEFAULT_TOP_K = 5
MAX_TOP_K = 10
# A small batch: the endpoint (model_code/inference.py) accepts up to 16.
MAX_BATCH_IMAGES = 8
# Lambda's synchronous payload limit is 6 MB for the whole event, binary bodies arrive base64-encoded
# (4/3 larger), and the images travel on to InvokeEndpoint (6 MB) base64-encoded in JSON again: so the
# decoded images may total at most 4.3 MB (5.73 MB as base64).
MAX_IMAGE_BYTES = 4_300_000
MAX_BODY_CHARS = 6_000_000
MAGIC_NUMBERS = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


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
        """What the endpoint receives: always JSON, so top_k reaches the model for raw images too."""
        encoded = [base64.b64encode(image).decode("ascii") for image in self.images]
        return json.dumps({"images": encoded, "top_k": self.top_k}).encode()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def parse_top_k(value) -> int:
    if value is None or value == "":
        return DEFAULT_TOP_K
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise RequestError(400, f"top_k must be an integer from 1 to {MAX_TOP_K}")
    return value


def check_image(data: bytes, position: str = "body") -> bytes:
    if not data:
        raise RequestError(400, f"empty image in {position}")
    if not data.startswith(tuple(MAGIC_NUMBERS)):
        raise RequestError(400, f"{position} is not a JPEG or PNG image")
    return data


def _decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RequestError(400, f"{what} is not valid base64: {error}") from error


def _parse_json(text: str, query_top_k) -> PredictionRequest:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"malformed JSON: {error.msg} at position {error.pos}") from error
    if not isinstance(payload, dict) or ("image" in payload) == ("images" in payload):
        raise RequestError(400, 'JSON body must be an object with either "image" or "images"')
    batch = "images" in payload
    items = payload["images"] if batch else [payload["image"]]
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        raise RequestError(400, '"images" must be a non-empty list of base64 strings')
    if len(items) > MAX_BATCH_IMAGES:
        raise RequestError(413, f"at most {MAX_BATCH_IMAGES} images per request, got {len(items)}")
    images = [check_image(_decode_base64(item, f"image {index}"), f"image {index}") for index, item in enumerate(items)]
    top_k = parse_top_k(payload.get("top_k", query_top_k))
    return PredictionRequest(images, top_k, batch)


def parse_request(
    content_type: str | None, body: str | None, is_base64_encoded: bool, query_top_k: str | None
) -> PredictionRequest:
    """The API Gateway proxy event's pieces -> a checked request (or RequestError)."""
    kind = media_type(content_type)
    if not kind:
        raise RequestError(415, "missing Content-Type: send image/jpeg, image/png or application/json")
    if kind not in IMAGE_CONTENT_TYPES and kind != JSON_CONTENT_TYPE:
        raise RequestError(415, f"unsupported Content-Type {kind!r}: send image/jpeg, image/png or application/json")
    if not body:
        raise RequestError(400, "empty body")
    if len(body) > MAX_BODY_CHARS:
        raise RequestError(413, f"body too large: at most {MAX_IMAGE_BYTES} bytes of images per request")
    if kind == JSON_CONTENT_TYPE:
        text = _decode_base64(body, "body").decode("utf-8", "replace") if is_base64_encoded else body
        request = _parse_json(text, query_top_k)
    else:
        data = _decode_base64(body, "body") if is_base64_encoded else body.encode("latin-1", "replace")
        request = PredictionRequest([check_image(data)], parse_top_k(query_top_k), batch=False)
    total = sum(len(image) for image in request.images)
    if total > MAX_IMAGE_BYTES:
        raise RequestError(413, f"images too large: {total} bytes, at most {MAX_IMAGE_BYTES} per request")
    return request
