"""The OpenAPI description kept in the repo is what the resolver generates today, and it says what the code does."""

import json

from model_code.serving_limits import IMAGE_CONTENT_TYPES, JSON_CONTENT_TYPE, MAX_BATCH_IMAGES, MAX_TOP_K
from predict import openapi


def test_kept_openapi_is_current():
    assert openapi.KEPT_FILE.read_text() == openapi.render(), "stale: run `make openapi`"


def test_openapi_documents_the_contract():
    spec = json.loads(openapi.KEPT_FILE.read_text())
    operation = spec["paths"]["/predict"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}
    batch = content[JSON_CONTENT_TYPE]["schema"]["oneOf"][1]["properties"]
    assert batch["images"]["maxItems"] == MAX_BATCH_IMAGES
    assert operation["parameters"][0]["schema"]["maximum"] == MAX_TOP_K
    assert {"200", "400", "413", "415", "429", "502", "503"} <= set(operation["responses"])
    assert "504" not in operation["responses"]  # a read timeout is a cold start: 503 with Retry-After
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
