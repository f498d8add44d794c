"""What one prediction request may carry (its media types, images, top_k): read by the API's proxy
(functions/predict/request.py, from the ModelCodeLayer) and by the endpoint's handler (inference.py, in the model
archive's code/), so a request the API accepts is one the endpoint serves, and a caller of the endpoint itself
meets the same bounds. Standard library only.
"""

# Images in one JSON batch. The endpoint's body limit decides it: a serverless endpoint takes at most 4 MB (6 MB
# on an instance; AWS's SageMaker serverless-endpoint and InvokeEndpoint pages), which leaves a JSON batch
# 2,950,848 B of image bytes once base64 and the JSON around them are counted (predict/request.py's
# payload_limits). Eight images leave each ~360 KB, a photo of ~1,000 px as JPEG (the model sees 224 px); a
# larger count would fit only thumbnails, and each image costs the endpoint a decode and a forward pass.
MAX_BATCH_IMAGES = 8

# application/x-image is what SageMaker's own examples send; the API's BinaryMediaTypes lists it with the other two.
IMAGE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "application/x-image"})
JSON_CONTENT_TYPE = "application/json"
# The images read: a body must start with JPEG's SOI and a marker, or PNG's signature.
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}

# Labels in a ranking: how many a request gets when it does not say, and at most.
DEFAULT_TOP_K = 5
MAX_TOP_K = 10


def top_k(value) -> int:
    """The top_k a request asks for (an integer; None: DEFAULT_TOP_K). ValueError, with the message a caller gets
    back, for anything else."""
    if value is None:
        return DEFAULT_TOP_K
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
        raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {value!r}"[:200])
    return value
