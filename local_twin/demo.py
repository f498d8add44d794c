"""`make demo`: real handwritten digits through the whole pipeline on the twin, then one prediction over HTTP."""

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from local_twin import digits
from local_twin.progress import StateProgress
from local_twin.twin import Twin, TwinError
from model_code.debugger import LOSS_PLOT  # train_model.py writes it into the final job's output data


@dataclass(frozen=True)
class Prediction:
    status: int
    body: dict


def progress_line(progress: StateProgress) -> str:
    loops = f" ({progress.visits} visits)" if progress.visits > 1 else ""
    return f"  {progress.name:<28} {progress.status:<10} {progress.elapsed:7.1f} s{loops}"


def post_image(api_url: str, path: str, image: Path, api_key: str) -> Prediction:
    response = requests.post(
        f"{api_url}{path}",
        data=image.read_bytes(),
        headers={"Content-Type": "image/jpeg", "x-api-key": api_key},
        timeout=60,
    )
    return Prediction(response.status_code, response.json())


def final_training_job(twin: Twin) -> dict:
    """The newest training job that is not a tuning trial: the debugged final training."""
    sagemaker = twin.client("sagemaker")
    summaries = sagemaker.list_training_jobs(SortBy="CreationTime", SortOrder="Descending")["TrainingJobSummaries"]
    for summary in summaries:
        job = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        if "TuningJobArn" not in job:
            return job
    raise LookupError("the local SageMaker ran no final training job")


def best_hyperparameters(twin: Twin) -> dict:
    sagemaker = twin.client("sagemaker")
    tuning_jobs = sagemaker.list_hyper_parameter_tuning_jobs(SortBy="CreationTime", SortOrder="Descending")
    name = tuning_jobs["HyperParameterTuningJobSummaries"][0]["HyperParameterTuningJobName"]
    return sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["BestTrainingJob"][
        "TunedHyperParameters"
    ]


def final_metric(job: dict, name: str) -> float | None:
    return next(
        (metric["Value"] for metric in job.get("FinalMetricDataList", []) if metric["MetricName"] == name), None
    )


def newest(paths: list[Path]) -> Path | None:
    return max(paths, key=lambda path: path.stat().st_mtime, default=None)


def run_demo(on_line=lambda line: None, on_progress=lambda progress: None) -> int:
    """The demo on the terminal; everything the Lambdas, moto and the jobs print goes to .twin/logs/demo.log.

    ``on_line`` sees each terminal line and ``on_progress`` each state as it ends (benchmarks/demo_budget.py).
    """
    twin = Twin()
    log_path = twin.workdir / "logs" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout

    def say(line: str) -> None:
        print(line, file=terminal, flush=True)
        on_line(line)

    with log_path.open("w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            status = demo(twin, say, on_progress)
        except (TwinError, LookupError) as error:
            say(f"demo failed: {error}")
            status = 1
    say(f"logs of the Lambdas, moto and the local SageMaker: {log_path}")
    return status


def demo(twin: Twin, say, on_progress=lambda progress: None) -> int:
    """The main job; ``say`` gets the terminal's lines, ``on_progress`` each state as it ends."""
    started = time.monotonic()
    demo_dir = twin.workdir / "demo"
    say(f"writing the digits dataset under {demo_dir} ...")
    held_out = digits.write_digits_dataset(demo_dir / "digits")
    zip_path = digits.zip_dataset(demo_dir / "digits", demo_dir / "digits.zip")
    say("starting the twin (moto, local SageMaker, local API) ...")
    with twin:
        known = {execution["executionArn"] for execution in twin.executions()}
        key = twin.upload_dataset(zip_path)
        say(f"uploaded s3://{twin.aws.bucket}/{key}; following the pipeline:")
        execution_arn = twin.wait_for_new_execution(known)

        # A hang guard, not a target: the run takes ~5 minutes on 2 idle cores.
        def report(progress: StateProgress) -> None:
            say(progress_line(progress))
            on_progress(progress)

        description = twin.follow(execution_arn, report, timeout=1800)
        if description["status"] != "SUCCEEDED":
            say(f"pipeline {description['status']}: {description.get('error')}: {description.get('cause')}")
            return 1
        route = twin.template.api().routes[0]
        sample = held_out[0]
        prediction = post_image(twin.api.url, route.path, sample.path, twin.api.api_key)
        if prediction.status != 200:
            say(f"POST {route.path} answered {prediction.status}: {prediction.body}")
            return 1
        top = prediction.body["predictions"][0]
        job = final_training_job(twin)
        accuracy = final_metric(job, "test_accuracy")
        sagemaker_dir = twin.workdir / "sagemaker"
        verdict = "right" if sample.label in top["label"] else "WRONG"
        answer = f"{top['label']} (probability {top['probability']:.3f}, {verdict})"
        say(f"prediction for {sample.path.name}, a {sample.label}: {answer}")
        say(f"best hyperparameters: {json.dumps(best_hyperparameters(twin), sort_keys=True)}")
        say(f"test accuracy: {accuracy}")
        say(f"loss curves: {newest(list(sagemaker_dir.rglob(LOSS_PLOT)))}")
        say(f"training job output: {job.get('OutputDataConfig', {}).get('S3OutputPath')}; local files: {sagemaker_dir}")
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0 if accuracy is not None else 1
