"""The local SageMaker's test kit: tiny fake model code (fast, no torch) in a bucket, its requests, and waits."""

import io
import json
import tarfile
import textwrap
import time

from local_twin.account import ACCOUNT_ID

BUCKET = "lsm-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker"

TRAIN_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, shutil, sys, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fail", default="no")
    parser.add_argument("--sleep", type=float, default=0)
    parser.add_argument("--use-api", default="", help="a dotted name the script resolves first, e.g. torch.optim.Adam")
    args = parser.parse_args()
    if args.fail == "yes":
        sys.exit("refusing to train: fail=yes")
    if args.use_api:  # resolved as model code would use it; then which stack the job runs on
        import importlib, platform, numpy
        module, *attributes = args.use_api.split(".")
        found = importlib.import_module(module)
        for attribute in attributes:
            found = getattr(found, attribute)
        version = importlib.import_module(module).__version__
        print(f"python={platform.python_version()} {module}={version} numpy={numpy.__version__}", flush=True)
    print("started", flush=True)
    print(f"rank={os.environ.get('RANK', '-')} of world={os.environ.get('WORLD_SIZE', '-')}", flush=True)
    time.sleep(args.sleep)
    data = os.listdir(os.environ["SM_CHANNEL_TRAINING"])
    assert data == ["dataset.zip"], data
    for epoch in range(1, args.epochs + 1):
        accuracy = 1 - abs(args.lr - 0.01) - args.batch_size / 1000
        print(f"epoch={epoch} train_loss=0.5 valid_loss=0.4 valid_accuracy={accuracy:.4f}", flush=True)
    print("test_loss=0.3 test_accuracy=0.9100", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "weights.json"), "w") as f:
        json.dump({"lr": args.lr}, f)
    code = os.path.join(os.environ["SM_MODEL_DIR"], "code")
    os.makedirs(code, exist_ok=True)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "inference.py"), code)
    """
)
INFERENCE = textwrap.dedent(
    """
    import json, os, sys, time
    from importlib.metadata import version

    from sagemaker_inference.errors import GenericInferenceToolkitError  # the toolkit's: refusals keep their status

    class BadInput(GenericInferenceToolkitError):
        def __init__(self, message):
            super().__init__(400, message)

    def model_fn(model_dir):
        with open(os.path.join(model_dir, "weights.json")) as f:
            return json.load(f)

    def input_fn(body, content_type):
        if content_type != "application/json":
            raise BadInput(f"unsupported content type {content_type}")
        return json.loads(body)

    def predict_fn(data, model):
        if "fail" in data:
            raise RuntimeError(data["fail"])
        if "sleep" in data:
            time.sleep(data["sleep"])
        if "exit" in data:  # the worker dies
            os._exit(1)
        if "where" in data:  # what serves this model
            return {"torch": version("torch"), "torchserve": version("torchserve"), "python": sys.version_info[:2],
                    "pid": os.getpid(), "ppid": os.getppid()}
        return {"echo": data, "lr": model["lr"]}

    def output_fn(prediction, accept):
        return json.dumps(prediction)
    """
)
METRICS = [
    {"Name": "valid_accuracy", "Regex": r"valid_accuracy=([0-9.]+)"},
    {"Name": "test_accuracy", "Regex": r"test_accuracy=([0-9.]+)"},
]


def sourcedir(requirements: str | None = None) -> bytes:
    """The fake model code's archive; with ``requirements``, a requirements.txt the toolkit installs first."""
    buffer = io.BytesIO()
    files = [("train.py", TRAIN_SCRIPT), ("inference.py", INFERENCE)]
    files += [("requirements.txt", requirements)] if requirements is not None else []
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def training_request(name: str, **hyperparameters) -> dict:

    encoded = {key: json.dumps(value) for key, value in hyperparameters.items()}
    encoded |= {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/sourcedir.tar.gz"),
    }
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File", "MetricDefinitions": METRICS},
        "RoleArn": ROLE,
        "HyperParameters": encoded,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/datasets/dataset.zip"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def tuning_request(name: str, strategy: str, limits: dict, ranges: dict, **extra) -> dict:
    definition = training_request("ignored")
    del definition["TrainingJobName"]
    static = definition.pop("HyperParameters")
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "valid_accuracy"},
            "ResourceLimits": limits,
            "ParameterRanges": ranges,
        },
        "TrainingJobDefinition": {"StaticHyperParameters": static | {"epochs": "1"}, **definition},
        **extra,
    }


def wait(describe, status_key: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = describe()
        if described[status_key] not in ("InProgress", "Creating", "Updating", "Stopping"):
            return described
        time.sleep(0.3)
    raise AssertionError(f"still {described[status_key]} after {timeout} s")


def run_tuning(sagemaker, name: str, strategy: str, limits: dict, ranges: dict, **extra) -> tuple[dict, list[dict]]:
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name, strategy, limits, ranges, **extra))
    described = wait(lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
                     "HyperParameterTuningJobStatus")  # fmt: skip
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return described, trials["TrainingJobSummaries"]
