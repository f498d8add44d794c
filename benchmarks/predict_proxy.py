"""Predict proxy overhead on the local twin: InvokeEndpoint directly vs through the Predict Lambda, and its import time.

Goals: the proxy adds <= 3 ms at p50 to the endpoint call; importing the proxy module takes <= 200 ms.

Three paths to the same endpoint with the same JPEG, interleaved so drift hits them alike:
- InvokeEndpoint with the body the proxy would send (boto3 against the local SageMaker runtime);
- the Predict handler called in-process with an API Gateway proxy event (what Lambda adds on AWS);
- the whole local route: HTTP to the local API front -> the Predict function's runtime process -> the endpoint.
The last row also pays the twin's own hops (a second HTTP server and moto's request parsing), which
API Gateway and the Lambda service replace on AWS.
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.common import ROOT, interleaved, percentile, print_table
from benchmarks.inference_latency import dog_sized_jpeg

IMPORT_PROBE = "import time; t = time.perf_counter(); import predict.app; print(time.perf_counter() - t)"


def import_seconds(runs: int, traced: bool) -> list[float]:
    """predict.app's import in fresh interpreters, in the environment Lambda gives it (code in /var/task).

    LAMBDA_TASK_ROOT matters: without it the X-Ray SDK believes it runs on a server and builds two botocore
    clients for centralised sampling (~130 ms here); on Lambda it samples locally.
    """
    environment = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": str(not traced),
    }
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE],
                cwd=ROOT / "functions",
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]


def proxy_event(image: bytes) -> dict:
    event = json.loads((ROOT / "events" / "api" / "binary_jpeg.json").read_text())
    event["body"] = base64.b64encode(image).decode()
    return event


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per path")
    parser.add_argument("--image-size", type=int, default=64, help="the model's input size (small: less noise)")
    parser.add_argument("--import-runs", type=int, default=10)
    args = parser.parse_args(argv)

    import requests

    from local_twin.moto_stack import lambda_environment
    from local_twin.serving import PREDICT_FUNCTION, serve_model, untrained_model_dir
    from local_twin.twin import Twin

    image = dog_sized_jpeg(0)
    with tempfile.TemporaryDirectory() as scratch, Twin(workdir=Path(scratch) / "twin") as twin:
        model_dir = untrained_model_dir(Path(scratch) / "model", [f"Breed {i}" for i in range(133)], args.image_size)
        endpoint = serve_model(twin, model_dir)
        spec = twin.template.functions()[PREDICT_FUNCTION]
        os.environ.update(lambda_environment(spec, twin.moto.gateway_url, twin.sagemaker.url, twin.region))
        os.environ.update(twin.moto.assume(twin.template.role_of(PREDICT_FUNCTION).arn, "benchmark"))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # keep the table readable; the twin's copy still logs
        from predict import app, settings
        from predict.request import parse_request

        event = proxy_event(image)
        top_k = event["queryStringParameters"]["top_k"]
        content_type, body = parse_request(
            "image/jpeg", event["body"], True, top_k, settings.serverless_endpoint()
        ).endpoint_payload()
        runtime = twin.client("sagemaker-runtime")
        session = requests.Session()
        route = twin.template.api().routes[0]
        headers = {"Content-Type": "image/jpeg", "x-api-key": twin.api.api_key}

        def direct():
            runtime.invoke_endpoint(
                EndpointName=endpoint, ContentType=content_type, Accept="application/json", Body=body
            )["Body"].read()

        def handler():
            deadline = time.monotonic() + spec.timeout
            context = SimpleNamespace(
                function_name=spec.name, memory_limit_in_mb=spec.memory, invoked_function_arn=spec.arn,
                aws_request_id="bench", get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000),
            )  # fmt: skip
            answer = app.lambda_handler(event, context)
            assert answer["statusCode"] == 200, answer

        def local_route():
            answer = session.post(f"{twin.api.url}{route.path}?top_k=3", data=image, headers=headers, timeout=60)
            assert answer.status_code == 200, answer.text

        paths = {
            "InvokeEndpoint directly": direct,
            "Predict handler -> endpoint": handler,
            "API front -> Lambda runtime -> endpoint": local_route,
        }
        samples = interleaved(paths, args.requests, warmup=5)

    baseline = statistics.median(samples["InvokeEndpoint directly"])
    rows = [
        [
            name,
            statistics.median(values) * 1000,
            percentile(values, 99) * 1000,
            (statistics.median(values) - baseline) * 1000,
        ]
        for name, values in samples.items()
    ]
    print_table(
        f"Predict proxy on the twin, {args.requests} requests per path, {args.image_size} px model "
        "(goal: the handler adds <= 3 ms at p50)",
        ["path", "p50 ms", "p99 ms", "added at p50 ms"],
        rows,
    )
    imports = {traced: import_seconds(args.import_runs, traced) for traced in (False, True)}
    print_table(
        f"Importing predict.app in a fresh interpreter, {args.import_runs} runs (goal: <= 200 ms)",
        ["tracing", "median ms", "max ms"],
        [
            ["on (X-Ray SDK, as deployed)" if traced else "off (the twin)", statistics.median(s) * 1000, max(s) * 1000]
            for traced, s in imports.items()
        ],
    )


if __name__ == "__main__":
    main()
