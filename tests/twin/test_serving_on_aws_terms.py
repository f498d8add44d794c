"""Serving on AWS's terms, on the whole twin through its HTTP front: payload limits that follow the endpoint type,
serverless cold starts, one clean error line, photos the right way up.

The twin runs once with a serverless endpoint and once with an instance one (the template's ServerlessInference
parameter, which the Predict function and serve_model both follow), each serving the real inference.py over a
seeded untrained ResNet18.
"""

import base64
import concurrent.futures
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image, ImageDraw

from local_twin.api import UsagePlanLimits
from local_twin.cloudformation import load_yaml
from local_twin.lambda_runtime import DEFAULT_CONCURRENCY as LAMBDA_CONCURRENCY_OF_A_NEW_ACCOUNT
from local_twin.sagemaker.endpoints import ColdStart
from local_twin.template import UsagePlan
from predict.request import payload_limits
from tests.support.images import jpeg, sideways_jpeg
from tests.support.twin_runs import Api, answer_of

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)
ROOT = Path(__file__).resolve().parents[2]

CLASSES = [f"Breed {index}" for index in range(12)]
IMAGE_SIZE = 32
PHONE_PHOTO_BYTES = 3_500_000  # a phone photo's size: over the ~3 MB base64-in-JSON could carry to 4 MB


@dataclass
class Served:
    api: Api
    twin: object
    serverless: bool


@pytest.fixture(scope="module", params=["true", "false"], ids=["serverless", "instance"])
def served(request, tmp_path_factory):
    from local_twin.serving import serve_model, untrained_model_dir
    from local_twin.twin import Twin

    folder = tmp_path_factory.mktemp(f"serving-{request.param}")
    with Twin(workdir=folder / "twin", parameters={"ServerlessInference": request.param}) as twin:
        try:
            endpoint = serve_model(twin, untrained_model_dir(folder / "model", CLASSES, IMAGE_SIZE))
            route = twin.template.api().routes[0]
            with requests.Session() as session:
                api = Api(f"{twin.api.url}{route.path}", twin.api.api_key, endpoint, session)
                yield Served(api, twin, request.param == "true")
        finally:
            # moto's state lives in this process: the next twin must start from nothing
            requests.post(f"{twin.moto.url}/moto-api/reset", timeout=10).raise_for_status()


def padded_jpeg(size: int) -> bytes:
    """A real JPEG of exactly ``size`` bytes: decoders stop at its end marker, the rest is what cameras add."""
    image = jpeg((640, 480))
    return image + bytes(size - len(image))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_phone_sized_photo_sent_raw_is_served(served):
    response = served.api.post(padded_jpeg(PHONE_PHOTO_BYTES), "image/jpeg", top_k="3")
    answer = answer_of(response)
    assert response.status_code == 200, answer
    assert len(answer["predictions"]) == 3 and {p["label"] for p in answer["predictions"]} <= set(CLASSES)
    response = served.api.post(json.dumps({"image": b64(padded_jpeg(PHONE_PHOTO_BYTES))}).encode(), "application/json")
    assert response.status_code == 200, answer_of(response)  # one image in JSON travels on raw as well


def test_a_phone_sized_batch_is_413_naming_the_limit_on_serverless_and_served_on_an_instance(served):
    body = json.dumps({"images": [b64(padded_jpeg(PHONE_PHOTO_BYTES))]}).encode()
    response = served.api.post(body, "application/json")
    answer = answer_of(response)
    limits = payload_limits(served.serverless)
    if served.serverless:
        assert (response.status_code, answer["message"]) == (
            413,
            f"images too large: {PHONE_PHOTO_BYTES} bytes, at most {limits.batch_images} bytes for a batch's images "
            f"on this API (serverless endpoint: {limits.endpoint_body} bytes per call)",
        )
    else:
        assert response.status_code == 200, answer
        assert len(answer["predictions"]) == 1


def test_one_image_over_the_limit_is_413_never_a_5xx(served):
    limits = payload_limits(served.serverless)
    response = served.api.post(padded_jpeg(limits.single_image + 1), "image/jpeg")
    answer = answer_of(response)
    assert response.status_code == 413, answer
    assert f"at most {limits.single_image} bytes for one image" in answer["message"]


def test_the_endpoint_itself_refuses_oversize_bodies_as_sagemaker_does(served):
    runtime = served.twin.client("sagemaker-runtime")
    limit = 4_000_000 if served.serverless else 6_000_000
    endpoint = served.api.endpoint
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/jpeg", Body=padded_jpeg(limit))
    assert len(json.loads(answer["Body"].read())["predictions"]) == 10  # a raw image: its whole top 10
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/jpeg", Body=padded_jpeg(limit + 1))
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"].endswith("has oversize body.")


def test_a_request_during_a_cold_start_gets_503_with_retry_after_and_the_retry_succeeds(served):
    endpoints = served.twin.sagemaker.endpoints
    endpoints.cold_start = ColdStart(idle_seconds=0.0, seconds=2.0)  # idle at once; a short cold start
    try:
        first = served.api.post(jpeg((320, 240)), "image/jpeg")
        if not served.serverless:  # an instance is always warm
            assert first.status_code == 200, answer_of(first)
            return
        answer = answer_of(first)
        assert (first.status_code, first.headers["Retry-After"]) == (503, "30"), answer
        assert answer["message"].startswith("the model is warming up")
        endpoints.cold_start = ColdStart(idle_seconds=600.0, seconds=2.0)  # warm from its next answer on
        statuses = []
        deadline = time.monotonic() + 60  # the cold start, then the seconds the Predict function remembers it
        while time.monotonic() < deadline:  # the client's retries see 503s until then, then the answer
            retry = served.api.post(jpeg((320, 240)), "image/jpeg")
            statuses.append(retry.status_code)
            if retry.status_code != 503:
                break
            time.sleep(0.25)
        assert statuses[-1] == 200 and set(statuses[:-1]) <= {503}, statuses
    finally:
        endpoints.cold_start = ColdStart()


def test_a_truncated_jpeg_gets_one_clean_line_without_the_models_traceback(served):
    good = jpeg((320, 240))
    response = served.api.post(good[: len(good) // 2], "image/jpeg")
    answer = answer_of(response)
    assert response.status_code == 400, answer
    assert answer["message"].startswith("the model refused the input: cannot decode image: image file is truncated")
    assert "Traceback" not in answer["message"] and "\n" not in answer["message"] and 'File "' not in answer["message"]


def photo() -> Image.Image:
    """Nothing symmetric: turned a quarter, it is a different picture to the model."""
    image = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 140, 90), fill=(220, 40, 40))
    draw.ellipse((200, 120, 300, 220), fill=(30, 60, 220))
    return image


def probabilities(api: Api, body: bytes) -> dict[str, float]:
    response = api.post(body, "image/jpeg", top_k="10")
    assert response.status_code == 200, answer_of(response)
    return {prediction["label"]: prediction["probability"] for prediction in answer_of(response)["predictions"]}


def test_a_photo_stored_sideways_gets_the_upright_photos_answer(served):
    upright_photo = photo()
    buffer = io.BytesIO()
    upright_photo.save(buffer, "JPEG", quality=95)
    upright = probabilities(served.api, buffer.getvalue())
    with_exif = probabilities(served.api, sideways_jpeg(upright_photo))
    assert list(with_exif) == list(upright)  # the same ranking
    assert max(abs(with_exif[label] - upright[label]) for label in upright) < 0.002  # JPEG noise only
    buffer = io.BytesIO()
    upright_photo.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=95)
    ignoring_exif = probabilities(served.api, buffer.getvalue())  # what the model saw before: the same pixels
    assert max(abs(ignoring_exif[label] - upright[label]) for label in upright) > 0.005


def the_templates_usage_plan() -> UsagePlan:
    """The usage plan of a default deployment (template.yaml's defaults), not the twin profile's generous one."""
    defaults = {name: spec.get("Default") for name, spec in load_yaml(ROOT / "template.yaml")["Parameters"].items()}
    return UsagePlan(float(defaults["ApiThrottleRateLimit"]), int(defaults["ApiThrottleBurstLimit"]))


def burst(api: Api, requests_at_once: int) -> list[int]:
    """Status codes of that many requests sent at the same moment."""
    with concurrent.futures.ThreadPoolExecutor(requests_at_once) as pool:
        return list(pool.map(lambda _: api.post(jpeg((64, 48)), "image/jpeg").status_code, range(requests_at_once)))


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold-start"])
def test_a_burst_on_a_new_accounts_concurrency_gets_429s_never_api_gateways_500(served, cold):
    """With the default usage plan, a burst of 20 reaches at most its burst of 5 functions at once: under a new
    account's 10 concurrent executions, so none is throttled by Lambda (a 500 from API Gateway)."""
    plan = the_templates_usage_plan()
    assert plan.burst_limit < LAMBDA_CONCURRENCY_OF_A_NEW_ACCOUNT
    endpoints = served.twin.sagemaker.endpoints
    # The bucket's clock stands still through the burst, so what is admitted does not depend on how fast this
    # machine delivers 20 requests (a loaded one spreads them over a second, in which the bucket refills 5).
    served.twin.api.usage_plan = UsagePlanLimits(plan, clock=lambda: 0.0)
    if cold:
        endpoints.cold_start = ColdStart(idle_seconds=0.0, seconds=30.0)
    try:
        statuses = burst(served.api, 20)
    finally:
        served.twin.api.usage_plan = UsagePlanLimits(served.twin.template.api().usage_plan)
        endpoints.cold_start = ColdStart()
    answered = {200} if not cold or not served.serverless else {503}
    assert set(statuses) <= answered | {429}, statuses
    assert statuses.count(429) == 20 - plan.burst_limit
