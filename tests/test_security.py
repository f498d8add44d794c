"""Security checks: no secret or account id in the repository, no URL fetched by the serving path, and PIL's
pixel limit enforced where images are decoded.

The API key on the full local twin is checked in tests/twin/test_api_hardening.py.
"""

import ast
import base64
import io
import json
import math
import re
import secrets
import socket
import string
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from local_twin.account import ACCOUNT_ID as TWIN_ACCOUNT_ID
from local_twin.cloudformation import load_yaml
from tests.support import code_scan
from tests.support.images import jpeg, jpeg_declaring, pixel_bombs, png_declaring
from tests.support.predict_lambda import ENDPOINT, LAMBDA_ENVIRONMENT, LambdaContext, load_event, stubbed_runtime

REPO = Path(__file__).resolve().parents[1]
MODEL_CODE = REPO / "model_code"

# ---------------------------------------------------------------- secrets and account ids

# Account ids that belong to nobody: moto's default account, and all zeros (LocalStack's default; the same
# digits end the placeholder UUIDs and pad the Debugger's step file names).
PLACEHOLDER_ACCOUNT_IDS = frozenset({TWIN_ACCOUNT_ID, "000000000000"})  # the twin's (moto's) account, a zero one
ACCOUNT_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{12}(?![0-9A-Za-z])")
# AWS's own registries: an account id is AWS's only inside an ECR image URI or ECR repository ARN.
ECR_ACCOUNT = re.compile(
    r"(?<![0-9])(?P<host>[0-9]{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com"
    r"|arn:aws[a-z-]*:ecr:[a-z0-9-]+:(?P<arn>[0-9]{12}):repository/"
)
ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
SECRET_ACCESS_KEY = re.compile(r"aws_secret_access_key[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+=]{8,})", re.I)
DUMMY_SECRETS = frozenset({"testing"})  # moto's documented dummy credentials
# Real secret access keys are 40 random base64 characters (~5 bits each); words and dummies stay far below.
SECRET_MIN_LENGTH = 16
SECRET_MIN_BITS_PER_CHAR = 3.5


def aws_owned_account_ids() -> frozenset[str]:
    """The registries in template.yaml's ImageUris mapping (tests/template/test_image_uris.py checks them
    against sagemaker-core, so they are AWS's own)."""
    uris = json.dumps(load_yaml(REPO / "template.yaml")["Mappings"]["ImageUris"])
    return frozenset(ACCOUNT_ID.findall(uris))


def bits_per_char(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_findings(text: str, aws_owned: frozenset[str]) -> list[str]:
    """Each secret or account id in ``text`` as ``line N: what``; empty when clean."""
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        ecr_spans = [match.span(match.lastgroup) for match in ECR_ACCOUNT.finditer(line)]
        for match in ACCOUNT_ID.finditer(line):
            account = match.group()
            in_ecr_uri = match.span() in ecr_spans
            if account not in PLACEHOLDER_ACCOUNT_IDS and not (in_ecr_uri and account in aws_owned):
                findings.append(f"line {number}: account id {account}")
        findings += [f"line {number}: access key id {match.group()}" for match in ACCESS_KEY_ID.finditer(line)]
        if PRIVATE_KEY.search(line):
            findings.append(f"line {number}: private key")
        for match in SECRET_ACCESS_KEY.finditer(line):
            value = match.group("value")
            random_looking = len(value) >= SECRET_MIN_LENGTH and bits_per_char(value) >= SECRET_MIN_BITS_PER_CHAR
            if value not in DUMMY_SECRETS and random_looking:
                findings.append(f"line {number}: secret access key {value[:4]}...")
    return findings


def repository_text_files() -> dict[str, str]:
    """Every file git tracks or would add (not ignored), so a secret is caught before its first commit."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, cwd=REPO, capture_output=True, check=True).stdout
    files = {}
    for name in filter(None, listed.decode().split("\0")):
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        try:
            files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary: images and archives carry no credentials we could read
    return files


def test_no_secret_or_account_id_in_the_repository():
    aws_owned = aws_owned_account_ids()
    assert len(aws_owned) > 10, aws_owned  # the registries of every commercial region
    files = repository_text_files()
    assert {"template.yaml", "tests/test_security.py", "model_code/inference.py"} <= set(files)
    findings = {name: found for name, text in files.items() if (found := secret_findings(text, aws_owned))}
    assert findings == {}


def random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def test_the_scanner_flags_planted_secrets():
    """Built at runtime, so this file itself stays clean for the scan above."""
    aws_owned = aws_owned_account_ids()
    aws_account = sorted(aws_owned)[0]
    someone = "4" * 12
    access_key = "AKIA" + random_text(string.ascii_uppercase + string.digits, 16)
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    planted = {
        f"key = '{access_key}'": [f"line 1: access key id {access_key}"],
        "-----BEGIN " + "RSA PRIVATE KEY-----": ["line 1: private key"],
        f'aws_secret_access_key = "{secret}"': [f"line 1: secret access key {secret[:4]}..."],
        f"AWS_SECRET_ACCESS_KEY={secret}": [f"line 1: secret access key {secret[:4]}..."],
        f"arn:aws:iam::{someone}:role/deploy": [f"line 1: account id {someone}"],
        f"{someone}.dkr.ecr.us-east-1.amazonaws.com/mine:1": [f"line 1: account id {someone}"],
        f"arn:aws:iam::{aws_account}:role/not-a-registry": [f"line 1: account id {aws_account}"],
    }
    for text, expected in planted.items():
        assert secret_findings(text, aws_owned) == expected, text
    clean = [
        "AWS_SECRET_ACCESS_KEY=testing",
        'aws_secret_access_key="x"',
        f"arn:aws:lambda:us-east-1:{TWIN_ACCOUNT_ID}:function:f",
        f"{aws_account}.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
        f"arn:aws:ecr:us-east-1:{aws_account}:repository/pytorch-training",
        "c0ffee00-0000-4000-8000-000000000000",
        "aws_secret_access_key=DUMMY_CREDENTIALS['AWS_SECRET_ACCESS_KEY']",
    ]
    for text in clean:
        assert secret_findings(text, aws_owned) == [], text


# ---------------------------------------------------------------- no URL fetched on the serving path

# Modules that open connections. botocore is not here: the proxy needs it for InvokeEndpoint, and the test
# below pins its one use.
NETWORK_MODULES = ("socket", "ssl", "http.client", "urllib.request", "urllib3", "requests", "httpx", "aiohttp")
# A torchvision ``*_Weights`` enum downloads pretrained weights when used; boto3 downloads from S3.
DOWNLOADING_MODULES = (*NETWORK_MODULES, "boto3", "botocore")


def network_names(names: set[str], modules=NETWORK_MODULES) -> set[str]:
    return {name for name in names if any(name == module or name.startswith(f"{module}.") for module in modules)}


def imported_names(path: Path) -> set[str]:
    return code_scan.imported_names(ast.parse(path.read_text()))


def test_the_proxy_imports_no_http_client_and_calls_only_invoke_endpoint():
    modules = code_scan.function_modules("predict")
    assert REPO / "functions" / "predict" / "endpoint.py" in modules
    assert network_names(set().union(*map(imported_names, modules))) == set()
    assert code_scan.boto3_actions(modules) == {"sagemaker:InvokeEndpoint"}


def top_level_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def downloads_in(node: ast.AST) -> set[str]:
    """What in ``node`` can download: a network-capable import, a torchvision pretrained-weights enum, or
    torchvision's ``get_model`` given weights."""
    found = network_names(code_scan.imported_names(node), DOWNLOADING_MODULES)
    found |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr.endswith("_Weights")}
    found |= {
        n.func.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "get_model" and n.keywords
    }
    return found


def serving_functions(inference: ast.Module, dogbreeds: ast.Module) -> set[str]:
    """dogbreeds' functions that inference.py runs: those it names, and what they name, transitively."""
    functions = top_level_functions(dogbreeds)
    pending = [
        node.attr
        for node in ast.walk(inference)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "dogbreeds"
    ]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in functions and name not in reached:
            reached.add(name)
            pending += [node.id for node in ast.walk(functions[name]) if isinstance(node, ast.Name)]
    return reached


def test_the_endpoint_code_can_download_only_through_the_training_weights_option():
    """inference.py imports nothing that connects. dogbreeds (shared with training) can download in two
    places, both chosen by build_model's ``weights`` (ImageNet weights, or a state_dict from s3://); the
    serving path always builds with weights="none"."""
    inference = ast.parse((MODEL_CODE / "inference.py").read_text())
    dogbreeds = ast.parse((MODEL_CODE / "dogbreeds.py").read_text())
    assert downloads_in(inference) == set()
    module_level = ast.Module([node for node in dogbreeds.body if not isinstance(node, ast.FunctionDef)], [])
    assert downloads_in(module_level) == set()
    downloading = {name: found for name, function in top_level_functions(dogbreeds).items()
                   if (found := downloads_in(function))}  # fmt: skip
    assert downloading == {"_load_state_dict": {"boto3"}, "build_model": {"get_model"}}
    serving = serving_functions(inference, dogbreeds)
    assert {"load_artifacts", "load_rgb", "eval_preset", "build_model"} <= serving
    builds = [
        node
        for name in serving
        for node in ast.walk(top_level_functions(dogbreeds)[name])
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "build_model"
    ]
    weights = [next((k.value.value for k in call.keywords if k.arg == "weights"), None) for call in builds]
    assert weights == ["none"], "the endpoint must never build a model that downloads weights"


@pytest.fixture
def no_network(monkeypatch):
    """Connections and DNS lookups from this test's thread are refused and recorded."""
    attempts = []
    test_thread = threading.get_ident()

    def guarded(original, what):
        def refuse(*args, **kwargs):
            if threading.get_ident() != test_thread:  # another thread's (a running twin's) traffic
                return original(*args, **kwargs)
            attempts.append((what, args[1:] if what != "getaddrinfo" else args))
            raise ConnectionRefusedError(f"{what} refused: this code must not touch the network")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect, "connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex, "connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", guarded(socket.getaddrinfo, "getaddrinfo"))
    return attempts


@pytest.fixture
def predict_handler(monkeypatch):
    """The real Predict handler as the template configures it, its sagemaker-runtime client stubbed with no
    responses: any InvokeEndpoint call fails the test."""
    for name, value in LAMBDA_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    from predict import app, endpoint

    client, stub = stubbed_runtime()
    monkeypatch.setattr(endpoint, "runtime_client", lambda: client)

    def call(event: dict) -> tuple[int, dict]:
        with stub:
            response = app.lambda_handler(event, LambdaContext())
        stub.assert_no_pending_responses()
        return response["statusCode"], json.loads(response["body"])

    return call, stub


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            "bad_image_url",
            "image 0 is not valid base64: Only base64 data is allowed (URLs are not fetched: send the image's bytes)",
        ),
        ("bad_url_field", 'the JSON body must be an object with either "image" or "images"'),
    ],
)
def test_the_proxy_refuses_a_url_instead_of_fetching_it(predict_handler, no_network, event, message):
    call, _ = predict_handler
    assert call(load_event(event)) == (400, {"message": message, "statusCode": 400})
    assert no_network == []


def test_the_client_cannot_choose_the_endpoint(predict_handler, no_network):
    """Extra JSON fields (an endpoint name, a URL) are ignored: the endpoint is fixed server-side."""
    call, stub = predict_handler
    image = json.loads(load_event("json_base64")["body"])["image"]
    event = load_event("json_base64")
    event["body"] = json.dumps({"image": image, "endpoint": "attacker", "EndpointName": "attacker", "url": "http://x"})
    answer = {"predictions": [{"label": "Beagle", "probability": 1.0}]}  # one image travels raw
    stub.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(json.dumps(answer).encode()), "ContentType": "application/json"},
        {
            "EndpointName": ENDPOINT,
            "ContentType": "image/jpeg",
            "Accept": "application/json",
            "Body": base64.b64decode(image),
        },
    )
    status, body = call(event)
    assert (status, body["predictions"], body["endpoint"]) == (200, answer["predictions"], ENDPOINT)
    assert no_network == []


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> Path:
    from local_twin.serving import untrained_model_dir

    return untrained_model_dir(tmp_path_factory.mktemp("security-model"), ["Beagle", "Poodle"], image_size=32)


@pytest.fixture
def endpoint_handler(untrained_model, no_network):
    """model_code/inference.py with a model loaded, as the container runs it (loading itself is guarded too)."""
    from model_code import inference

    return inference, inference.model_fn(str(untrained_model))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": "http://example.com/x.jpg"}, "malformed base64 image: Only base64 data is allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 'JSON must be an object with either "image" or "images"'),
        ({"images": ["https://example.com/a.jpg"]}, "malformed base64 image: Only base64 data is allowed"),
    ],
)
def test_the_endpoint_refuses_a_url_instead_of_fetching_it(endpoint_handler, no_network, body, message):
    inference, _ = endpoint_handler
    with pytest.raises(inference.InferenceError) as refused:
        inference.input_fn(json.dumps(body), "application/json")
    assert (refused.value.status_code, str(refused.value)) == (400, message)
    assert no_network == []


def test_the_endpoint_labels_an_image_without_the_network(endpoint_handler, no_network):
    inference, predictor = endpoint_handler
    answer = json.loads(inference.output_fn(inference.predict_fn(inference.input_fn(jpeg(), "image/jpeg"), predictor)))
    assert {prediction["label"] for prediction in answer["predictions"]} == {"Beagle", "Poodle"}
    assert no_network == []


# ---------------------------------------------------------------- PIL's pixel limit


def test_crafted_headers_declare_what_they_say():
    with Image.open(io.BytesIO(png_declaring(8000, 5000))) as image:
        assert image.size == (8000, 5000)
    with Image.open(io.BytesIO(jpeg_declaring(640, 480))) as image:
        assert image.size == (640, 480)


# Between the limit and twice it PIL only warns; check_pixels is what refuses.
EXPECTED_BOMB_WARNING = "ignore::PIL.Image.DecompressionBombWarning"


@pytest.mark.filterwarnings(EXPECTED_BOMB_WARNING)
def test_load_rgb_refuses_images_above_the_pixel_limit():
    from model_code import dogbreeds

    assert Image.MAX_IMAGE_PIXELS == dogbreeds.MAX_IMAGE_PIXELS
    with Image.open(io.BytesIO(png_declaring(8000, dogbreeds.MAX_IMAGE_PIXELS // 8000))) as at_the_limit:
        dogbreeds.check_pixels(at_the_limit)  # exactly the limit is allowed
    above = png_declaring(8000, dogbreeds.MAX_IMAGE_PIXELS // 8000 + 1)
    with pytest.raises(dogbreeds.ImageTooLargeError, match=r"^image is 8000x5001 pixels, more than the limit of"):
        dogbreeds.load_rgb(above)
    with pytest.raises(Image.DecompressionBombError):  # PIL's own refusal, at twice the limit, on open
        dogbreeds.load_rgb(jpeg_declaring(65_000, 65_000))


@pytest.mark.filterwarnings(EXPECTED_BOMB_WARNING)
@pytest.mark.parametrize("case", ["PNG just above the limit", "JPEG above PIL's bomb limit"])
def test_the_endpoint_answers_413_for_a_pixel_bomb(endpoint_handler, case):
    from model_code import dogbreeds

    inference, _ = endpoint_handler
    body, content_type, message = pixel_bombs(dogbreeds.MAX_IMAGE_PIXELS)[case]
    with pytest.raises(inference.InferenceError) as refused:
        inference.input_fn(body, content_type)
    assert (refused.value.status_code, str(refused.value)) == (413, message)
