"""Real JPEGs through the Predict Lambda and the real model_code/inference.py, called in-process as the endpoint.

The model is the real architecture in the real artifact layout, built in seconds instead of trained: a
seeded, randomly initialised ResNet18 as a fixed feature extractor, and its ``fc`` head solved in closed
form (ridge regression) on the training digits. It labels held-out digits about 96% right.
"""

import base64
import io
import json
import traceback

import pytest
import torch
from botocore.exceptions import ClientError

from model_code import dogbreeds
from model_code.serving_limits import DEFAULT_TOP_K
from tests.support.predict_lambda import load_event

IMAGE_SIZE = 32  # the size tests/conftest.py writes the digits at
RIDGE = 10.0


def fit_head(model: torch.nn.Module, samples: list, preset) -> None:
    """Least-squares fit of one-hot targets on the standardised penultimate features, folded into ``fc``."""
    head, model.fc = model.fc, torch.nn.Identity()
    with torch.inference_mode():
        features = model(torch.stack([preset(dogbreeds.load_rgb(path)) for path, _ in samples]))
    model.fc = head
    mean, std = features.mean(0), features.std(0) + 1e-6
    standardised = torch.cat([(features - mean) / std, torch.ones(len(features), 1)], dim=1)
    targets = torch.nn.functional.one_hot(torch.tensor([label for _, label in samples]), head.out_features).float()
    gram = standardised.T @ standardised + RIDGE * torch.eye(standardised.shape[1])
    solution = torch.linalg.solve(gram, standardised.T @ targets)  # (features + 1, classes)
    weights, bias = solution[:-1] / std[:, None], solution[-1]
    with torch.no_grad():
        head.weight.copy_(weights.T)
        head.bias.copy_(bias - mean @ weights)


@pytest.fixture(scope="module")
def model_dir(digits_dataset, tmp_path_factory):
    """model.pth + classes.json + metadata.json, as train_model.py exports them."""
    root, _ = digits_dataset
    train = dogbreeds.discover_dataset(root)["train"]
    torch.manual_seed(0)
    model = dogbreeds.build_model(len(train.classes), weights="none").eval()
    fit_head(model, train.samples, dogbreeds.eval_preset(IMAGE_SIZE))
    metadata = {
        "architecture": dogbreeds.DEFAULT_ARCHITECTURE,
        "image_size": IMAGE_SIZE,
        "mean": list(dogbreeds.IMAGENET_MEAN),
        "std": list(dogbreeds.IMAGENET_STD),
        "num_classes": len(train.classes),
    }
    directory = tmp_path_factory.mktemp("predict-model")
    dogbreeds.save_artifacts(directory, model, train.classes, metadata)
    return directory


class InProcessEndpoint:
    """sagemaker-runtime stand-in: the container's call sequence on model_code/inference.py.

    The model's own refusals come back as the ModelError InvokeEndpoint raises (OriginalStatusCode and
    OriginalMessage in the inference toolkit's "message\ntraceback"), so the proxy's mapping and cleaning of them
    are exercised with the real messages.
    """

    def __init__(self, model_dir):
        from model_code import inference

        self.inference = inference
        self.predictor = inference.model_fn(str(model_dir))
        self.requests = []

    def invoke_endpoint(self, EndpointName, ContentType, Accept, Body):
        self.requests.append((ContentType, Body))
        try:
            request = self.inference.input_fn(Body, ContentType)
            answer = self.inference.output_fn(self.inference.predict_fn(request, self.predictor), Accept)
        except self.inference.InferenceError as error:
            raise ClientError(
                {
                    "Error": {"Code": "ModelError", "Message": "Received client error from primary"},
                    "OriginalStatusCode": error.status_code,
                    "OriginalMessage": f"{error.message}\n{traceback.format_exc()}",
                },
                "InvokeEndpoint",
            ) from error
        return {"Body": io.BytesIO(answer.encode()), "InvokedProductionVariant": "AllTraffic"}


@pytest.fixture
def model_endpoint(model_dir, runtime):
    return runtime(InProcessEndpoint(model_dir))


def jpeg_event(path) -> dict:
    return load_event("binary_jpeg") | {"body": base64.b64encode(path.read_bytes()).decode()}


def test_held_out_jpegs_get_the_right_label(handler, model_endpoint, digits_dataset):
    _, held_out = digits_dataset
    sample = held_out[::5]  # 54 images of every class
    labels = []
    for image in sample:
        status, _, body = handler(jpeg_event(image.path))
        assert status == 200, body
        assert len(body["predictions"]) == 3  # ?top_k=3: the first 3 of the raw image's ranking
        labels.append(body["predictions"][0]["label"])
    correct = sum(label == image.label for label, image in zip(labels, sample, strict=True))
    assert correct / len(sample) >= 0.85, list(zip(labels, [image.label for image in sample], strict=True))
    assert {image.label for image in sample} == set(model_endpoint.predictor.classes)


def test_the_sample_events_are_labelled(handler, model_endpoint):
    status, _, body = handler(load_event("binary_jpeg"))  # a handwritten zero
    assert status == 200 and body["predictions"][0]["label"] == "Zero"
    status, _, body = handler(load_event("json_batch"))
    assert status == 200
    assert [len(per_image) for per_image in body["predictions"]] == [DEFAULT_TOP_K] * 2
    content_type, sent = model_endpoint.requests[-1]
    assert (content_type, json.loads(sent)["top_k"]) == ("application/json", DEFAULT_TOP_K)
    assert model_endpoint.requests[0][0] == "image/jpeg"  # one image travels raw


def test_an_image_only_the_model_can_refuse_comes_back_as_its_400(handler, model_endpoint, digits_dataset):
    """Right magic bytes, truncated data: the proxy forwards it, inference.py refuses it, the client sees why."""
    _, held_out = digits_dataset
    event = load_event("binary_jpeg") | {"body": base64.b64encode(held_out[0].path.read_bytes()[:40]).decode()}
    status, _, body = handler(event)
    assert status == 400
    assert body["message"].startswith("the model refused the input: cannot decode image")
    assert "Traceback" not in body["message"] and "\n" not in body["message"]
    assert len(model_endpoint.requests) == 1
