"""The OpenAPI description kept in the repo is what the resolver generates today."""

import json

from predict import openapi


def test_kept_openapi_is_current():
    assert openapi.KEPT_FILE.read_text() == openapi.render(), "stale: run `make openapi`"


def test_openapi_documents_the_contract():
    spec = json.loads(openapi.KEPT_FILE.read_text())
    operation = spec["paths"]["/predict"]["post"]
    assert set(operation["requestBody"]["content"]) == {"image/jpeg", "image/png", "application/json"}
    assert {"200", "400", "413", "415", "429", "502", "503", "504"} <= set(operation["responses"])
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
