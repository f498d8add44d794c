"""A model put behind the API's endpoint directly, without running the pipeline.

For what needs a live endpoint but not a trained model: the proxy benchmark, the load script and the API's
bad-input corpus on the twin. The model is the real architecture in train_model.py's artifact layout
(weights, classes, metadata, code/), so the serving process is exactly the one a pipeline run starts.
"""

import tarfile
import tempfile
import time
from pathlib import Path

from local_twin.twin import Twin, TwinError

PREDICT_FUNCTION = "PredictFunction"


def untrained_model_dir(folder: Path, classes: list[str], image_size: int = 224, seed: int = 0) -> Path:
    """Seeded random weights in the exported layout: answers are meaningless, timings and errors are real."""
    import torch

    from model_code import dogbreeds, entry_points

    torch.manual_seed(seed)
    model = dogbreeds.build_model(len(classes), weights="none").eval()
    metadata = {
        "architecture": dogbreeds.DEFAULT_ARCHITECTURE,
        "image_size": image_size,
        "mean": list(dogbreeds.IMAGENET_MEAN),
        "std": list(dogbreeds.IMAGENET_STD),
        "num_classes": len(classes),
    }
    dogbreeds.save_artifacts(folder, model, classes, metadata)
    entry_points.write_inference_code(folder)
    return folder


def api_endpoint_name(twin: Twin) -> str:
    """The endpoint the Predict function is configured with (template.yaml fixes it server-side)."""
    return twin.template.functions()[PREDICT_FUNCTION].environment["ENDPOINT_NAME"]


def endpoint_variant(twin: Twin, model_name: str) -> dict:
    """The production variant Deploy would write for the template's parameters: serverless or an instance."""
    parameters = twin.template.parameters
    variant = {"VariantName": "AllTraffic", "ModelName": model_name}
    if str(parameters["ServerlessInference"]) != "true":
        return variant | {"InstanceType": parameters["EndpointInstanceType"], "InitialInstanceCount": 1}
    serverless = {
        "MemorySizeInMB": int(parameters["ServerlessMemorySizeMB"]),
        "MaxConcurrency": int(parameters["ServerlessMaxConcurrency"]),
    }
    provisioned = int(parameters["ServerlessProvisionedConcurrency"])
    return variant | {"ServerlessConfig": serverless | ({"ProvisionedConcurrency": provisioned} if provisioned else {})}


def serve_model(twin: Twin, model_dir: Path, timeout: float = 300) -> str:
    """Upload model_dir as model.tar.gz and put it behind the API's endpoint, with the endpoint type the template's
    parameters choose (the Predict function's payload limits follow the same parameter); returns its name."""
    endpoint = api_endpoint_name(twin)
    models_prefix = twin.template.functions()[PREDICT_FUNCTION].environment["MODELS_PREFIX"]
    key = f"{models_prefix}twin-served/{endpoint}/model.tar.gz"  # where the execution role may read models
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(Path(model_dir).iterdir()):
                tar.add(path, arcname=path.name)
        twin.client("s3").upload_file(str(archive), twin.aws.bucket, key)
    sagemaker = twin.client("sagemaker")
    name = f"{endpoint}-served-{int(time.time())}"
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=twin.template.get_att("SageMakerExecutionRole", "Arn"),  # the role Deploy passes too
        PrimaryContainer={
            "Image": "local",
            "ModelDataUrl": f"s3://{twin.aws.bucket}/{key}",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[endpoint_variant(twin, name)],
    )
    names = {item["EndpointName"] for item in sagemaker.list_endpoints()["Endpoints"]}
    if endpoint in names:
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=name)
    else:
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == name:
            return endpoint
        if described["EndpointStatus"] == "Failed" or (
            described["EndpointStatus"] == "InService" and described.get("FailureReason")
        ):
            raise TwinError(f"endpoint {endpoint} did not take model {name}: {described.get('FailureReason')}")
        time.sleep(0.5)
    raise TwinError(f"endpoint {endpoint} not InService with model {name} after {timeout:.0f} s")
