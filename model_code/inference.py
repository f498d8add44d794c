"""The endpoint's handler for SageMaker's PyTorch inference container (model_fn, input_fn,
predict_fn, output_fn).

Requests: a raw image (image/jpeg, image/png, application/x-image), answered with its top 10 (a raw body
has no room for top_k: the caller keeps the first k of the ranking), or application/json
``{"image": "<base64>"}`` / ``{"images": ["<base64>", ...]}`` with an optional ``"top_k"`` (1-10,
default 5). Responses: ``{"predictions": [{"label", "probability"}, ...]}`` for one image, a list of such
lists for a batch. The API's proxy sends one image raw (a third smaller than base64: the payload limits
are 4 MB on a serverless endpoint, 6 MB on an instance) and a batch as JSON. Images are turned upright (EXIF)
and preprocessed with the same eval preset as validation in training. The handler never fetches URLs. Bad
input raises InferenceError carrying the HTTP status to answer with.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from model_code import dogbreeds, serving_limits
from model_code.serving_limits import (
    IMAGE_CONTENT_TYPES,
    IMAGE_SIGNATURES,
    JSON_CONTENT_TYPE,
    MAX_BATCH_IMAGES,
    MAX_TOP_K,
)

try:  # inside the inference image (and the twin's endpoints, its stand-in) the toolkit answers with its status code
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ErrorBase
except ImportError:  # elsewhere (tests importing this module directly) ``status_code`` is read directly

    class _ErrorBase(Exception):
        def __init__(self, status_code: int, message: str | None = None, phrase: str | None = None):
            super().__init__(message)
            self.status_code = status_code
            self.message = message
            self.phrase = phrase


RAW_IMAGE_TOP_K = MAX_TOP_K  # all a caller may ask for; a prefix of a ranking is the smaller top-k
_MAGIC_NUMBERS = tuple(IMAGE_SIGNATURES)


class InferenceError(_ErrorBase):
    def __init__(self, status_code: int, message: str):
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass
class Predictor:
    model: torch.nn.Module
    classes: list[str]
    transform: object
    device: torch.device
    metadata: dict


@dataclass
class Request:
    images: torch.Tensor
    top_k: int
    batch: bool


# The toolkit calls input_fn without the model: it preprocesses with the loaded model's preset.
_LOADED: list[Predictor] = []


def model_fn(model_dir: str) -> Predictor:
    """Load once per worker: weights, class names and the eval preset at the trained image size."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, classes, metadata = dogbreeds.load_artifacts(Path(model_dir), device=str(device))
    predictor = Predictor(model, classes, dogbreeds.eval_preset(metadata["image_size"]), device, metadata)
    _LOADED[:] = [predictor]
    return predictor


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _decode_image(data: bytes, transform) -> torch.Tensor:
    if not data:
        raise InferenceError(400, "empty image")
    if not data.startswith(_MAGIC_NUMBERS):
        raise InferenceError(400, "not a JPEG or PNG image")
    try:
        return transform(dogbreeds.load_rgb(data))
    except (dogbreeds.ImageTooLargeError, dogbreeds.Image.DecompressionBombError) as error:
        raise InferenceError(413, str(error)) from error
    except dogbreeds.UNREADABLE_IMAGE_ERRORS as error:
        raise InferenceError(400, f"cannot decode image: {error}") from error


def _parse_top_k(value) -> int:
    try:
        return serving_limits.top_k(value)
    except ValueError as error:
        raise InferenceError(400, str(error)) from error


def _parse_json(body: bytes) -> tuple[list[bytes], int, bool]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InferenceError(400, f"malformed JSON: {error}") from error
    if not isinstance(payload, dict) or ("image" in payload) == ("images" in payload):
        raise InferenceError(400, 'JSON must be an object with either "image" or "images"')
    batch = "images" in payload
    encoded = payload["images"] if batch else [payload["image"]]
    if not isinstance(encoded, list) or not encoded or not all(isinstance(item, str) for item in encoded):
        raise InferenceError(400, '"images" must be a non-empty list of base64 strings')
    if len(encoded) > MAX_BATCH_IMAGES:
        raise InferenceError(413, f"at most {MAX_BATCH_IMAGES} images per request, got {len(encoded)}")
    try:
        images = [base64.b64decode(item, validate=True) for item in encoded]
    except (binascii.Error, ValueError) as error:
        raise InferenceError(400, f"malformed base64 image: {error}") from error
    return images, _parse_top_k(payload.get("top_k")), batch


def input_fn(request_body: bytes | str, request_content_type: str) -> Request:
    """Decode the request into a batch of preprocessed tensors (never fetches anything)."""
    body = request_body.encode() if isinstance(request_body, str) else bytes(request_body or b"")
    media_type = _media_type(request_content_type)
    if media_type in IMAGE_CONTENT_TYPES:
        raw_images, top_k, batch = [body], RAW_IMAGE_TOP_K, False
    elif media_type == JSON_CONTENT_TYPE:
        raw_images, top_k, batch = _parse_json(body)
    else:
        supported = ", ".join(sorted(IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}))
        raise InferenceError(415, f"unsupported content type {request_content_type!r}; use one of {supported}")
    if not _LOADED:
        raise InferenceError(503, "model not loaded")
    transform = _LOADED[0].transform
    return Request(torch.stack([_decode_image(raw, transform) for raw in raw_images]), top_k, batch)


def predict_fn(request: Request, predictor: Predictor) -> dict:
    with torch.inference_mode():
        logits = predictor.model(request.images.to(predictor.device))
        probabilities = torch.softmax(logits.float(), dim=1)
        k = min(request.top_k, len(predictor.classes))
        top = torch.topk(probabilities, k, dim=1)
    per_image = [
        [
            {"label": predictor.classes[index], "probability": round(probability, 6)}
            for probability, index in zip(values.tolist(), indices.tolist(), strict=True)
        ]
        for values, indices in zip(top.values, top.indices, strict=True)
    ]
    answer = {"predictions": per_image if request.batch else per_image[0]}
    if predictor.metadata.get("training_job"):  # which model answered (the prediction log and the API say it)
        answer["model"] = predictor.metadata["training_job"]
    return answer


def output_fn(prediction: dict, accept: str | None = JSON_CONTENT_TYPE) -> str:
    if _media_type(accept) not in ("", "*/*", JSON_CONTENT_TYPE):
        raise InferenceError(406, f"unsupported accept type {accept!r}; the endpoint answers application/json")
    return json.dumps(prediction)
