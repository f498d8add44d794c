"""Real JPEGs through the Predict Lambda and the real model_code/inference.py, served as the endpoint serves it
(the inference image's TorchServe, started by the SageMaker inference toolkit, in the image's stand-in).

The model is the real architecture in the real artifact layout, built in seconds instead of trained: a
seeded, randomly initialised ResNet18 as a fixed feature extractor, and its ``fc`` head solved in closed
form (ridge regression) on the training digits. It labels held-out digits about 96% right.
"""

import base64
import io
import json
import shutil
import sys

import pytest
import torch
from botocore.exceptions import ClientError

from local_twin.sagemaker import endpoints
from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.images import ImageStacks
from local_twin.sagemaker.runtime import JobRuntime
from model_code import dogbreeds, entry_points
from model_code.serving_limits import DEFAULT_TOP_K, MAX_BATCH_IMAGES
from tests.support.predict_lambda import load_event

pytestmark = pytest.mark.enable_socket  # the container on loopback

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


class ServedEndpoint:
    """sagemaker-runtime stand-in over the real container: model_code/inference.py in the model's ``code/``, served
    as the local SageMaker serves it (the inference image's entry point, the toolkit's TorchServe, in the inference
    image's stand-in). What TorchServe answers other than 200 comes back as the ModelError the local SageMaker makes
    of it (OriginalStatusCode, OriginalMessage: the toolkit's "message\ntraceback"), so the proxy's mapping and
    cleaning of them are exercised with the real answers."""

    def __init__(self, folder):
        runtime = JobRuntime.on_this_machine(ImageStacks.built_in(), sys.executable, "http://127.0.0.1:9", "us-east-1")
        environment = {**runtime.environment, **endpoints.IMAGE_ENVIRONMENT, "SAGEMAKER_PROGRAM": "inference.py"}
        self.server = endpoints.Server(runtime.serving_python, folder, folder / "serve.log", environment)
        assert self.server.healthy(), (folder / "serve.log").read_text()
        self.classes = json.loads((folder / "model" / "classes.json").read_text())
        self.requests = []

    def invoke_endpoint(self, EndpointName, ContentType, Accept, Body):
        self.requests.append((ContentType, Body))
        answer = self.server.invoke(Body, {"Content-Type": ContentType, "Accept": Accept})
        if answer.status_code != 200:
            error = endpoints.model_error(Arns("us-east-1"), EndpointName, answer.status_code, answer.text)
            response = {"Error": {"Code": error.code, "Message": error.message}, **error.fields}
            raise ClientError(response, "InvokeEndpoint")
        return {"Body": io.BytesIO(answer.content), "InvokedProductionVariant": "AllTraffic"}


@pytest.fixture(scope="module")
def served(model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("container")
    shutil.copytree(model_dir, folder / "model")
    entry_points.write_inference_code(folder / "model")
    endpoint = ServedEndpoint(folder)
    yield endpoint
    endpoint.server.stop()


@pytest.fixture
def model_endpoint(served, runtime):
    served.requests.clear()
    return runtime(served)


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
    assert {image.label for image in sample} == set(model_endpoint.classes)


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


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("text/plain", b"hi", 415, "unsupported content type 'text/plain'; use one of application/json, "),
        ("application/json", json.dumps({"images": ["AA=="] * (MAX_BATCH_IMAGES + 1)}).encode(), 413,
         f"at most {MAX_BATCH_IMAGES} images per request, got {MAX_BATCH_IMAGES + 1}"),
        ("image/jpeg", b"\xff\xd8\xff" + bytes(37), 400, "cannot decode image: "),
    ],
    ids=["415", "413", "400"],
)  # fmt: skip
def test_the_containers_refusals_arrive_as_sagemaker_passes_them_on(served, content_type, body, status, message):
    """What TorchServe answers for inference.py's InferenceError: its status, and the toolkit's body (message,
    newline, traceback ending in the error), which the ModelError carries whole."""
    with pytest.raises(ClientError) as refused:
        served.invoke_endpoint(EndpointName="real", ContentType=content_type, Accept="application/json", Body=body)
    error = refused.value.response
    assert (error["Error"]["Code"], error["OriginalStatusCode"]) == ("ModelError", status)
    first, trace = error["OriginalMessage"].split("\n", 1)
    assert first.startswith(message)
    assert trace.startswith("Traceback (most recent call last):\n")
    assert trace.endswith(f"model_code.inference.InferenceError: {first}\n")
    assert error["Error"]["Message"].startswith(f'Received client error ({status}) from primary with message "{first}')
