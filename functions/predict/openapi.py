"""The API's OpenAPI description, generated from the Powertools resolver in app.py.

``python -m predict.openapi --write`` (from functions/; ``make openapi``) refreshes openapi.json; a test
fails when the kept file is stale. Powertools documents routes and responses; the request bodies the
route reads itself (raw images are not JSON) are added here from request.py's limits.
"""

import argparse
import json
import os
import sys
from pathlib import Path

KEPT_FILE = Path(__file__).with_name("openapi.json")


def generate() -> dict:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from model_code.serving_limits import DEFAULT_TOP_K, IMAGE_CONTENT_TYPES, MAX_BATCH_IMAGES, MAX_TOP_K
    from predict.app import app
    from predict.request import payload_limits

    serverless, instance = payload_limits(serverless=True), payload_limits(serverless=False)

    spec = json.loads(
        app.get_openapi_json_schema(
            title="Dog-breed prediction API",
            version="1.0.0",
            description=(
                f"POST a JPEG or PNG image (or a JSON batch of up to {MAX_BATCH_IMAGES}), get the top-k dog breeds. "
                f"Size limits follow the endpoint type: one image at most {serverless.single_image} bytes on a "
                f"serverless endpoint ({instance.single_image} on an instance one), a batch's images "
                f"{serverless.batch_images} ({instance.batch_images}) bytes in all; larger requests get 413. "
                "Errors are JSON with a message."
            ),
            security_schemes={"apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
            security=[{"apiKey": []}],
        )
    )
    operation = spec["paths"]["/predict"]["post"]
    image_schema = {"type": "string", "format": "binary", "maxLength": instance.single_image}
    base64_image = {"type": "string", "format": "byte"}
    top_k = {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": DEFAULT_TOP_K}
    operation["parameters"] = [{"name": "top_k", "in": "query", "required": False, "schema": top_k}]
    operation["requestBody"] = {
        "required": True,
        "content": {
            **{content_type: {"schema": image_schema} for content_type in sorted(IMAGE_CONTENT_TYPES)},
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["image"],
                            "properties": {"image": base64_image, "top_k": top_k},
                        },
                        {
                            "type": "object",
                            "required": ["images"],
                            "properties": {
                                "images": {
                                    "type": "array",
                                    "items": base64_image,
                                    "minItems": 1,
                                    "maxItems": MAX_BATCH_IMAGES,
                                },
                                "top_k": top_k,
                            },
                        },
                    ]
                }
            },
        },
    }
    return spec


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {KEPT_FILE.name}; else check it is current")
    args = parser.parse_args()
    if args.write:
        KEPT_FILE.write_text(render())
        return 0
    if KEPT_FILE.read_text() != render():
        print(f"{KEPT_FILE} is stale: run make openapi", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
