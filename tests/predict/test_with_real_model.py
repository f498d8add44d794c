"""A real JPEG through the Predict Lambda and a real inference.py (called in-process as the endpoint)."""

import base64
import io
import json

from .conftest import load_event


class InProcessEndpoint:
    """sagemaker-runtime stand-in that runs model_code/inference.py exactly as the container does."""

    def __init__(self, inference):
        self.inference = inference
        self.calls = 0

    def invoke_endpoint(self, EndpointName, ContentType, Accept, Body):
        self.calls += 1
        request = self.inference.input_fn(Body, ContentType)
        body = self.inference.output_fn(self.inference.predict_fn(request, self._predictor), Accept)
        return {"Body": io.BytesIO(body.encode()), "InvokedProductionVariant": "AllTraffic"}


def test_real_jpeg_gets_the_right_label(handler, runtime, inference_module, digits_dataset):
    inference, predictor = inference_module
    endpoint = InProcessEndpoint(inference)
    endpoint._predictor = predictor
    runtime(endpoint)
    _, held_out = digits_dataset
    checked = [digit for digit in held_out if digit.label in {"Three", "Seven"}][:6]
    correct = 0
    for digit in checked:
        event = load_event("binary_jpeg")
        event["body"] = base64.b64encode(digit.path.read_bytes()).decode()
        status, _, body = handler(event)
        assert status == 200, body
        assert len(body["predictions"]) == 3  # top_k=3 from the query string reached the model
        correct += body["predictions"][0]["label"] == digit.label
    assert correct >= 5
    assert endpoint.calls == len(checked)


def test_batch_through_the_real_model(handler, runtime, inference_module, digits_dataset):
    inference, predictor = inference_module
    endpoint = InProcessEndpoint(inference)
    endpoint._predictor = predictor
    runtime(endpoint)
    _, held_out = digits_dataset
    event = load_event("json_batch")
    event["body"] = json.dumps({"images": [base64.b64encode(d.path.read_bytes()).decode() for d in held_out[:4]]})
    status, _, body = handler(event)
    assert status == 200
    assert [len(per_image) for per_image in body["predictions"]] == [5, 5, 5, 5]


def test_proxy_batch_limit_fits_the_endpoint(inference_module):
    from predict.request import MAX_BATCH_IMAGES, MAX_TOP_K

    inference, _ = inference_module
    assert MAX_BATCH_IMAGES <= inference.MAX_BATCH_IMAGES and MAX_TOP_K == inference.MAX_TOP_K
