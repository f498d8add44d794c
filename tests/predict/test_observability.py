"""Logs carry API Gateway's request id as correlation id; metrics count requests by status code, measure each
answer (latency, confidence) and refusals by cause; the labels given are logged for the sampled share; a cold
start imports no torch or numpy."""

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.predict_lambda import LAMBDA_ENVIRONMENT, endpoint_reply, load_event, stubbed_runtime

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.fixture
def log_lines(monkeypatch):
    from predict import app

    stream = io.StringIO()
    monkeypatch.setattr(app.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def body_of(answer: dict) -> io.BytesIO:
    return io.BytesIO(json.dumps(answer).encode())


def emf_blobs(stdout: str) -> list[dict]:
    return [blob for blob in map(json.loads, stdout.splitlines()) if "_aws" in blob]


def test_logs_carry_the_api_gateway_request_id(handler, runtime, log_lines):
    runtime(stubbed_runtime()[0])
    handler(load_event("bad_top_k"))
    refused = [line for line in log_lines() if line["message"] == "request refused"]
    assert refused and refused[0]["correlation_id"] == "req-bad_top_k"
    assert refused[0]["status"] == 400 and "top_k" in refused[0]["reason"]


def test_the_models_full_error_is_logged_with_the_request_ids_while_the_client_gets_one_line(
    handler, runtime, log_lines
):
    trace = 'Traceback (most recent call last):\n  File "/opt/ml/model/code/inference.py", line 90, in _decode_image\n'
    client, stub = stubbed_runtime()
    stub.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received client error (400) from primary",
        http_status_code=424,
        modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": f"cannot decode image: truncated\n{trace}"},
    )
    runtime(client)
    with stub:
        status, _, body = handler(load_event("binary_png"))
    assert (status, body["message"]) == (400, "the model refused the input: cannot decode image: truncated")
    (logged,) = [line for line in log_lines() if line["message"] == "endpoint call failed"]
    assert logged["correlation_id"] == "req-binary_png" and logged["function_request_id"]
    assert trace in logged["detail"] and "ModelError" in logged["detail"]


def test_requests_are_counted_by_status_code_with_their_latency(handler, runtime, capsys):
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply([[{"label": "Beagle", "probability": 1.0}]]))
    runtime(client)
    with stub:
        handler(load_event("binary_png"))
    handler(load_event("bad_content_type"))
    requests = [blob for blob in emf_blobs(capsys.readouterr().out) if "Requests" in blob]
    assert [blob["StatusCode"] for blob in requests] == ["200", "415"]
    success, refused = requests
    assert success["_aws"]["CloudWatchMetrics"][0]["Namespace"] == LAMBDA_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
    assert sorted(success["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["StatusCode", "service"]
    assert (success["Requests"], refused["Requests"], success["ImagesLabelled"]) == ([1.0], [1.0], [1.0])
    assert len(success["RequestLatency"]) == len(refused["RequestLatency"]) == 1  # every request measured
    assert len(success["EndpointLatency"]) == 1  # one endpoint call measured
    assert 0 < success["EndpointLatency"][0] <= success["RequestLatency"][0]
    assert "EndpointLatency" not in refused  # refused before the endpoint was called


def test_each_images_top_confidence_is_recorded_and_the_low_ones_counted(handler, runtime, capsys, monkeypatch):
    monkeypatch.setenv("LOW_CONFIDENCE_THRESHOLD", "0.5")
    rankings = [
        [{"label": "Beagle", "probability": 0.9}, {"label": "Basset_hound", "probability": 0.05}],
        [{"label": "Pug", "probability": 0.49}, {"label": "Boxer", "probability": 0.2}],
    ]  # the event's two images
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply(rankings))
    runtime(client)
    with stub:
        status, _, _ = handler(load_event("json_batch"))
    assert status == 200
    (answered,) = [blob for blob in emf_blobs(capsys.readouterr().out) if "Requests" in blob]
    assert answered["TopConfidence"] == [0.9, 0.49]  # one value per image, in order
    assert answered["LowConfidenceImages"] == [1.0] and answered["ImagesLabelled"] == [2.0]
    units = {metric["Name"]: metric["Unit"] for metric in answered["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["TopConfidence"] == "None" and units["RequestLatency"] == "Milliseconds"


@pytest.mark.parametrize(
    ("event", "error", "status", "metric", "cause"),
    [
        ("bad_content_type", None, 415, "ClientErrors", "UnsupportedContentType"),
        ("bad_missing_content_type", None, 415, "ClientErrors", "MissingContentType"),
        ("bad_malformed_json", None, 400, "ClientErrors", "MalformedJson"),
        ("bad_not_an_image", None, 400, "ClientErrors", "NotAnImage"),
        ("bad_top_k", None, 400, "ClientErrors", "BadTopK"),
        ("bad_batch_too_large", None, 413, "ClientErrors", "TooManyImages"),
        ("binary_png", ("ThrottlingException", 400, {}), 429, "ClientErrors", "Throttled"),
        ("binary_png", ("ModelNotReadyException", 429, {}), 503, "ServerErrors", "WarmingUp"),
        ("binary_png", ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": "bad"}), 400,
         "ClientErrors", "ModelRefused"),
        ("binary_png", ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "boom"}), 502,
         "ServerErrors", "ModelFailed"),
    ],
)  # fmt: skip
def test_each_refusal_is_counted_by_its_cause(handler, runtime, capsys, event, error, status, metric, cause):
    client, stub = stubbed_runtime()
    if error:
        code, http_status, fields = error
        stub.add_client_error("invoke_endpoint", code, "refused", http_status, modeled_fields=fields)
    runtime(client)
    with stub:
        answered, _, _ = handler(load_event(event))
    assert answered == status
    blobs = emf_blobs(capsys.readouterr().out)
    (refusal,) = [blob for blob in blobs if metric in blob]
    assert refusal[metric] == [1.0] and refusal["Cause"] == cause
    assert sorted(refusal["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["Cause", "service"]
    (request,) = [blob for blob in blobs if "Requests" in blob]
    assert request["StatusCode"] == str(status) and "Cause" not in request  # the cause is the refusal's alone


def test_the_sampled_requests_are_logged_and_recorded_in_the_bucket(
    handler, runtime, log_lines, monkeypatch, prediction_log_bucket
):
    reply = {"predictions": [[{"label": "Beagle", "probability": 0.8}, {"label": "Pug", "probability": 0.1}]],
             "model": "dogbreeds-train-1234"}  # fmt: skip
    client, stub = stubbed_runtime()
    for _ in range(2):
        stub.add_response("invoke_endpoint", endpoint_reply(reply["predictions"]) | {"Body": body_of(reply)})
    runtime(client)
    with stub:
        monkeypatch.setenv("PREDICTION_LOG_SAMPLE_RATE", "1")
        status, _, answer = handler(load_event("binary_png"))
        monkeypatch.setenv("PREDICTION_LOG_SAMPLE_RATE", "0")
        handler(load_event("binary_png"))
    assert status == 200 and answer["model"] == "dogbreeds-train-1234"
    (labelled,) = [line for line in log_lines() if line["message"] == "labelled"]  # the second was not sampled
    assert labelled["labels"] == [{"label": "Beagle", "probability": 0.8}]
    assert (labelled["variant"], labelled["model"]) == ("AllTraffic", "dogbreeds-train-1234")
    assert labelled["correlation_id"] == "req-binary_png"

    (key,) = prediction_log_bucket.objects  # one record, no image (PredictionLogImages is off)
    assert re.fullmatch(r"predictions/records/dt=\d{4}-\d\d-\d\d/\d{12}-req-binary_png\.json", key), key
    stored = prediction_log_bucket.objects[key]
    record = json.loads(stored["Body"])
    assert (stored["Bucket"], stored["ContentType"]) == ("dogbreeds-data", "application/json")
    assert key.split("/")[2] == f"dt={record['time'][:10]}"
    sent = base64.b64decode(load_event("binary_png")["body"])
    assert record["images"] == [{"bytes": len(sent), "format": "png", "top_k": reply["predictions"][0]}]
    assert (record["request_id"], record["variant"], record["model"]) == (
        "req-binary_png",
        "AllTraffic",
        reply["model"],
    )


def test_the_images_are_kept_only_when_asked(handler, runtime, monkeypatch, prediction_log_bucket):
    monkeypatch.setenv("PREDICTION_LOG_IMAGES", "true")
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply([[{"label": "Beagle", "probability": 0.8}]] * 2))
    runtime(client)
    with stub:
        assert handler(load_event("json_batch"))[0] == 200
    records = {k: v for k, v in prediction_log_bucket.objects.items() if "/records/" in k}
    images = {k: v for k, v in prediction_log_bucket.objects.items() if "/images/" in k}
    ((record_key, stored),) = records.items()
    record = json.loads(stored["Body"])
    assert [image["key"] for image in record["images"]] == sorted(images) and len(images) == 2
    sent = [base64.b64decode(b) for b in json.loads(load_event("json_batch")["body"])["images"]]
    assert [images[image["key"]]["Body"] for image in record["images"]] == sent
    assert all(key.startswith("predictions/images/dt=") for key in images) and record_key.endswith(".json")


def test_a_failed_write_is_counted_and_the_client_still_answered(handler, runtime, capsys, monkeypatch):
    from predict import prediction_log

    class Refusing:
        def put_object(self, **_):
            raise RuntimeError("AccessDenied")

    monkeypatch.setattr(prediction_log, "s3_client", Refusing)
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply([[{"label": "Beagle", "probability": 0.8}]]))
    runtime(client)
    with stub:
        assert handler(load_event("binary_png"))[0] == 200
    (failure,) = [blob for blob in emf_blobs(capsys.readouterr().out) if "PredictionLogFailures" in blob]
    assert failure["PredictionLogFailures"] == [1.0]


def test_a_share_of_calls_is_sampled():
    from predict import observations

    draws = iter([0.05, 0.15, 0.5, 0.09])
    assert [observations.sampled(0.1, draw=lambda: next(draws)) for _ in range(4)] == [True, False, False, True]


def test_a_cold_start_imports_no_torch_or_numpy():
    probe = "import sys, predict.app; print(sorted({'torch', 'numpy', 'PIL', 'pydantic'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=FUNCTIONS,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "predict", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
