"""inference.py as the endpoint runs it: model_fn once, then input_fn -> predict_fn -> output_fn.

What a request may be, how it is refused and how answers are shaped does not depend on the weights: those tests
load an untrained network (unit tier). That the labels are right needs the trained digits model (slow)."""

import base64
import io
import json

import pytest
from PIL import Image

from model_code.serving_limits import MAX_BATCH_IMAGES
from tests.support.paths import VENV_BIN


def invoke(inference, predictor, body, content_type, accept="application/json"):
    prediction = inference.predict_fn(inference.input_fn(body, content_type), predictor)
    return json.loads(inference.output_fn(prediction, accept))


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def test_digits(digits_dataset):
    _, held_out = digits_dataset
    return held_out[:30]


@pytest.fixture(scope="module")
def untrained_inference(tmp_path_factory):
    """inference.py with an untrained ten-class network at the digits' 32 px loaded, as model_fn loads a model."""
    from model_code import dogbreeds, inference

    folder = tmp_path_factory.mktemp("untrained-model")
    classes = [f"{digit:03d}.Digit_{digit}" for digit in range(1, 11)]
    network = dogbreeds.build_model(len(classes), weights="none", arch=dogbreeds.DEFAULT_ARCHITECTURE)
    dogbreeds.save_artifacts(
        folder, network, classes, {"image_size": 32, "architecture": dogbreeds.DEFAULT_ARCHITECTURE}
    )
    return inference, inference.model_fn(str(folder))


@pytest.mark.slow
def test_clear_digits_get_the_right_label(inference_module, test_digits):
    inference, predictor = inference_module
    correct = 0
    for digit in test_digits:
        answer = invoke(inference, predictor, digit.path.read_bytes(), "image/jpeg")
        correct += answer["predictions"][0]["label"] == digit.label
    assert correct >= 0.9 * len(test_digits)


@pytest.mark.slow
def test_jpeg_png_grayscale_and_x_image_round_trip(inference_module, test_digits):
    inference, predictor = inference_module
    with Image.open(test_digits[0].path) as source:
        image = source.convert("RGB")
    bodies = {
        "image/jpeg": encoded(image, "JPEG"),
        "image/png": encoded(image, "PNG"),
        "application/x-image": encoded(image.convert("L"), "PNG"),
    }
    for content_type, body in bodies.items():
        predictions = invoke(inference, predictor, body, content_type)["predictions"]
        assert len(predictions) == 10  # a raw image: its whole top 10 (the digits have 10 classes)
        assert predictions[0]["label"] == test_digits[0].label, content_type
        probabilities = [p["probability"] for p in predictions]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001


def test_batch_json_with_top_k(untrained_inference, test_digits):
    inference, predictor = untrained_inference
    images = [base64.b64encode(d.path.read_bytes()).decode() for d in test_digits[:3]]
    answer = invoke(inference, predictor, json.dumps({"images": images, "top_k": 2}), "application/json")
    assert [len(per_image) for per_image in answer["predictions"]] == [2, 2, 2]
    single = invoke(inference, predictor, json.dumps({"image": images[0]}), "application/json; charset=utf-8")
    assert single["predictions"][0]["label"] == answer["predictions"][0][0]["label"]


PNG_1PX = encoded(Image.new("RGB", (1, 1)), "PNG")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"", "image/jpeg", 400, "empty image"),
        (b"GIF89a not supported", "image/jpeg", 400, "not a JPEG or PNG"),
        (PNG_1PX[:30], "image/png", 400, "cannot decode image"),
        (PNG_1PX, "text/plain", 415, "unsupported content type"),
        (b"{nope", "application/json", 400, "malformed JSON"),
        (b'{"image": "%%%"}', "application/json", 400, "malformed base64"),
        (b'{"url": "http://169.254.169.254/"}', "application/json", 400, 'either "image" or "images"'),
        (b'{"images": []}', "application/json", 400, "non-empty list"),
        (
            json.dumps({"images": ["aGk="] * (MAX_BATCH_IMAGES + 1)}).encode(),
            "application/json",
            413,
            f"at most {MAX_BATCH_IMAGES} images per request, got {MAX_BATCH_IMAGES + 1}",
        ),
        (json.dumps({"image": "aGk=", "top_k": 11}).encode(), "application/json", 400, "from 1 to 10, got 11"),
        (json.dumps({"image": "aGk=", "top_k": "3"}).encode(), "application/json", 400, "from 1 to 10, got '3'"),
        (encoded(Image.new("L", (9000, 9000)), "PNG"), "image/png", 413, "limit"),
    ],
)
def test_bad_input_gets_its_specific_error(untrained_inference, body, content_type, status, message):
    inference, _ = untrained_inference
    with pytest.raises(inference.InferenceError) as raised:
        inference.input_fn(body, content_type)
    assert raised.value.status_code == status
    assert message in str(raised.value)


def test_unsupported_accept_type(untrained_inference):
    inference, _ = untrained_inference
    with pytest.raises(inference.InferenceError) as raised:
        inference.output_fn({"predictions": []}, "text/csv")
    assert raised.value.status_code == 406


@pytest.mark.slow
def test_the_endpoint_code_runs_from_the_model_archive_alone(trained_digits_model, test_digits, elsewhere):
    """model.tar.gz's code/ as the inference toolkit uses it: code/ on the path, ``import inference``, the
    handler functions in turn; the package model_code imported is the archive's, not this checkout's."""
    probe = """
import json, sys
import inference, model_code
model = inference.model_fn(sys.argv[1])
with open(sys.argv[2], "rb") as image:
    prediction = inference.predict_fn(inference.input_fn(image.read(), "image/jpeg"), model)
print(json.dumps([model_code.__file__, json.loads(inference.output_fn(prediction, "application/json"))]))
"""
    code = trained_digits_model / "code"
    sample = test_digits[0]
    result = elsewhere(
        VENV_BIN / "python", "-c", probe, trained_digits_model, sample.path, env={"PYTHONPATH": str(code)}
    )
    assert result.returncode == 0, result.stderr
    package_file, answer = json.loads(result.stdout)
    assert package_file == str(code / "model_code" / "__init__.py")
    assert answer["predictions"][0]["label"] == sample.label
