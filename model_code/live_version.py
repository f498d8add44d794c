"""Which model package the endpoint serves: endpoint -> endpoint config -> model -> the package it was made from.
A module of its own (apart from registry.py's record), so that only the code that asks it is granted these reads
(tests/template/test_iam.py scans each function's imports). ``sagemaker`` is a boto3 SageMaker client."""


def served_model(sagemaker, endpoint_name: str) -> dict | None:
    """DescribeModel of the model the endpoint serves (endpoint -> config -> model); None when there is no endpoint.
    ``sagemaker`` is a boto3 SageMaker client; a missing endpoint is SageMaker's ValidationException."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except Exception as error:  # botocore's ClientError, without importing botocore here
        if getattr(error, "response", {}).get("Error", {}).get("Code") == "ValidationException":
            return None
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])


def package_of(model: dict | None) -> str | None:
    """The package a model was made from (CreateModel's PrimaryContainer.ModelPackageName); None for a model made
    from an image and model data directly (a stack deployed before the registry existed)."""
    return (model or {}).get("PrimaryContainer", {}).get("ModelPackageName")


def served_package(sagemaker, endpoint_name: str) -> str | None:
    """The ARN of the package the endpoint serves; None without an endpoint or a package."""
    return package_of(served_model(sagemaker, endpoint_name))
