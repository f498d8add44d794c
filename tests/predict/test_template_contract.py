"""What template.yaml promises the Predict Lambda matches what the code expects.

(That the template sets every variable the code reads is tests/template/test_environment.py's job.)
"""

from pathlib import Path

from local_twin.template import Template
from model_code.serving_limits import IMAGE_CONTENT_TYPES
from predict.endpoint import ANSWER_MARGIN_SECONDS, CLIENT_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def test_api_gateway_base64_encodes_exactly_the_raw_image_types():
    api = Template.load(ROOT).api()
    assert set(api.binary_media_types) == IMAGE_CONTENT_TYPES
    assert [(route.method, route.path) for route in api.routes if route.function == "PredictFunction"] == [
        ("POST", "/predict")
    ]


def test_the_function_outlives_its_endpoint_call():
    """Otherwise Lambda's timeout, not this function's JSON 503 with Retry-After, is what the client would get."""
    timeout = Template.load(ROOT).functions()["PredictFunction"].timeout
    assert timeout >= CLIENT_CONFIG.connect_timeout + CLIENT_CONFIG.read_timeout + ANSWER_MARGIN_SECONDS


def test_the_function_follows_the_endpoint_type_deploy_creates():
    """One parameter decides both: Deploy's endpoint configuration and the proxy's payload limits."""
    functions = Template.load(ROOT, overrides={"ServerlessInference": "false"}).functions()
    assert functions["PredictFunction"].environment["SERVERLESS_INFERENCE"] == "false"
    assert functions["DeployFunction"].environment["SERVERLESS_INFERENCE"] == "false"
