"""What template.yaml promises the Predict Lambda matches what the code expects."""

from pathlib import Path

from local_twin.template import Template
from predict import settings
from predict.endpoint import CLIENT_CONFIG
from predict.request import IMAGE_CONTENT_TYPES

ROOT = Path(__file__).resolve().parents[2]


def test_api_gateway_base64_encodes_exactly_the_raw_image_types():
    api = Template.load(ROOT).api()
    assert set(api.binary_media_types) == IMAGE_CONTENT_TYPES
    assert [(route.method, route.path) for route in api.routes if route.function == "PredictFunction"] == [
        ("POST", "/predict")
    ]


def test_the_function_gets_its_settings_and_outlives_the_endpoint_call():
    template = Template.load(ROOT)
    function = template.functions()["PredictFunction"]
    assert set(settings.DEFAULTS) <= set(function.environment)
    assert function.timeout > (CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout)
