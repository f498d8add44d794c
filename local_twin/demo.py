"""`make demo`: real handwritten digits through the whole pipeline on the twin, then one prediction over HTTP."""

import json
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


def print_progress(progress: StateProgress) -> None:
    loops = f" ({progress.visits} visits)" if progress.visits > 1 else ""
    print(f"  {progress.name:<28} {progress.status:<10} {progress.elapsed:7.1f} s{loops}", flush=True)


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


def run_demo() -> int:
    try:
        return demo(Twin())
    except (TwinError, LookupError) as error:
        print(f"demo failed: {error}")
        return 1


def demo(twin: Twin) -> int:
    started = time.monotonic()
    demo_dir = twin.workdir / "demo"
    print(f"writing the digits dataset under {demo_dir} ...", flush=True)
    held_out = digits.write_digits_dataset(demo_dir / "digits")
    zip_path = digits.zip_dataset(demo_dir / "digits", demo_dir / "digits.zip")
    print("starting the twin (moto, local SageMaker, local API) ...", flush=True)
    with twin:
        known = {execution["executionArn"] for execution in twin.executions()}
        key = twin.upload_dataset(zip_path)
        print(f"uploaded s3://{twin.aws.bucket}/{key}; following the pipeline:", flush=True)
        execution_arn = twin.wait_for_new_execution(known)
        description = twin.follow(execution_arn, print_progress)
        if description["status"] != "SUCCEEDED":
            print(f"pipeline {description['status']}: {description.get('error')}: {description.get('cause')}")
            return 1
        route = twin.template.api().routes[0]
        sample = held_out[0]
        prediction = post_image(twin.api.url, route.path, sample.path, twin.api.api_key)
        if prediction.status != 200:
            print(f"POST {route.path} answered {prediction.status}: {prediction.body}")
            return 1
        top = prediction.body["predictions"][0]
        job = final_training_job(twin)
        accuracy = final_metric(job, "test_accuracy")
        sagemaker_dir = twin.workdir / "sagemaker"
        verdict = "right" if sample.label in top["label"] else "WRONG"
        print(f"prediction for {sample.path.name} (a {sample.label}): {top['label']} ", end="")
        print(f"(probability {top['probability']:.3f}), {verdict}")
        print(f"best hyperparameters: {json.dumps(best_hyperparameters(twin), sort_keys=True)}")
        print(f"test accuracy: {accuracy}")
        print(f"loss curves: {newest(list(sagemaker_dir.rglob(LOSS_PLOT)))}")
        print(f"training logs: {job.get('OutputDataConfig', {}).get('S3OutputPath')} ; local: {sagemaker_dir}")
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0 if accuracy is not None else 1
