"""What template.yaml promises the Predict Lambda matches what the code expects.

(That the template sets every variable the code reads is tests/template/test_environment.py's job.)
"""

from pathlib import Path

from local_twin.template import Template
from predict.endpoint import CLIENT_CONFIG
from predict.request import IMAGE_CONTENT_TYPES

ROOT = Path(__file__).resolve().parents[2]


def test_api_gateway_base64_encodes_exactly_the_raw_image_types():
    api = Template.load(ROOT).api()
    assert set(api.binary_media_types) == IMAGE_CONTENT_TYPES
    assert [(route.method, route.path) for route in api.routes if route.function == "PredictFunction"] == [
        ("POST", "/predict")
    ]


def test_the_function_outlives_its_endpoint_call():
    """Otherwise Lambda's timeout, not this function's JSON 504, is what the client would get."""
    timeout = Template.load(ROOT).functions()["PredictFunction"].timeout
    assert timeout > CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout
