"""Logs carry API Gateway's request id as correlation id; metrics count requests by status code; a cold start
imports no torch or numpy."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.predict_lambda import endpoint_reply, load_event, stubbed_runtime

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


@pytest.fixture
def log_lines(monkeypatch):
    from predict import app

    stream = io.StringIO()
    monkeypatch.setattr(app.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


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


def test_requests_are_counted_by_status_code_with_endpoint_latency(handler, runtime, capsys):
    client, stub = stubbed_runtime()
    stub.add_response("invoke_endpoint", endpoint_reply([[{"label": "Beagle", "probability": 1.0}]]))
    runtime(client)
    with stub:
        handler(load_event("binary_png"))
    handler(load_event("bad_content_type"))
    requests = [blob for blob in emf_blobs(capsys.readouterr().out) if "Requests" in blob]
    assert [blob["StatusCode"] for blob in requests] == ["200", "415"]
    success, refused = requests
    assert success["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DogBreedPipeline"
    assert sorted(success["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["StatusCode", "service"]
    assert (success["Requests"], refused["Requests"], success["ImagesLabelled"]) == ([1.0], [1.0], [1.0])
    assert len(success["EndpointLatency"]) == 1  # one endpoint call measured
    assert "EndpointLatency" not in refused  # refused before the endpoint was called


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
