"""A moto S3 and a local SageMaker on loopback, with tiny fake model code (fast, no torch)."""

import io
import json
import tarfile
import textwrap

import pytest
import requests
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from local_twin.account import ACCOUNT_ID
from local_twin.faults import Faults
from local_twin.moto_stack import client
from local_twin.sagemaker import LocalSageMaker

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
    args = parser.parse_args()
    if args.fail == "yes":
        sys.exit("refusing to train: fail=yes")
    print("started", flush=True)
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
    import json, os

    class BadInput(Exception):
        def __init__(self, message):
            super().__init__(message)
            self.status_code = 400

    def model_fn(model_dir):
        with open(os.path.join(model_dir, "weights.json")) as f:
            return json.load(f)

    def input_fn(body, content_type):
        if content_type != "application/json":
            raise BadInput(f"unsupported content type {content_type}")
        return json.loads(body)

    def predict_fn(data, model):
        return {"echo": data, "lr": model["lr"]}

    def output_fn(prediction, accept):
        return json.dumps(prediction)
    """
)
METRICS = [
    {"Name": "valid_accuracy", "Regex": r"valid_accuracy=([0-9.]+)"},
    {"Name": "test_accuracy", "Regex": r"test_accuracy=([0-9.]+)"},
]


def sourcedir() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("train.py", TRAIN_SCRIPT), ("inference.py", INFERENCE)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = client("s3", url, "us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=sourcedir())
    s3.put_object(Bucket=BUCKET, Key="datasets/dataset.zip", Body=b"PK fake zip")
    trust = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    client("iam", url, "us-east-1").create_role(  # SageMaker refuses a role it cannot assume
        RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps({"Statement": [trust]})
    )
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()  # moto's state is per process
    server.stop()


@pytest.fixture(scope="module")
def local_sagemaker(moto_url, tmp_path_factory):
    faults = Faults()
    service = LocalSageMaker(tmp_path_factory.mktemp("sagemaker"), moto_url, faults=faults, max_concurrent_jobs=2)
    url = service.start()
    yield service, client("sagemaker", url, "us-east-1"), client("sagemaker-runtime", url, "us-east-1")
    service.stop()


def training_request(name: str, **hyperparameters) -> dict:
    import json

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
