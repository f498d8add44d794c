"""Every SageMaker request the pipeline builds, validated by botocore's service model, with exact shapes."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from common import naming
from common.sagemaker_requests import (
    EndpointSettings,
    JobSettings,
    TuningSettings,
    encode_hyperparameters,
    endpoint_config_request,
    model_request,
    parse_batch_sizes,
    training_job_request,
    tuning_job_request,
    update_endpoint_request,
)
from model_code import metrics

SETTINGS = JobSettings(
    bucket="data", jobs_prefix="jobs/", models_prefix="models/", role_arn="arn:aws:iam::123456789012:role/sm",
    image_uri="img:cpu", instance_type="ml.m5.large", use_spot=True, max_runtime_seconds=3600, epochs=5,
    image_size=224, weights="imagenet", extra_hyperparameters={"fine-tune": "full"},
)  # fmt: skip
TUNING = TuningSettings(
    max_jobs=4, max_parallel_jobs=2, learning_rate_min=1e-4, learning_rate_max=1e-2, batch_sizes=(32, 64)
)
SOURCE = "s3://data/code/sourcedir-0123456789abcdef.tar.gz"
TAGS = naming.run_tags("run-1")


def accepted_by_botocore(operation: str, request: dict, response: dict) -> None:
    """The client validates the parameters against the service model before the stub answers."""
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(operation, response, expected_params=request)
        getattr(client, operation)(**request)


def test_tuning_job_request():
    request = tuning_job_request(
        name="dogbreeds-1a2b3c4d5e-hpo", settings=SETTINGS, tuning=TUNING, dataset_uri="s3://data/datasets/d.zip",
        source_uri=SOURCE, tags=TAGS,
    )  # fmt: skip
    accepted_by_botocore(
        "create_hyper_parameter_tuning_job",
        request,
        {"HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"},
    )
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian" and config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "valid_accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert config["ParameterRanges"]["ContinuousParameterRanges"] == [
        {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.01", "ScalingType": "Logarithmic"}
    ]
    assert config["ParameterRanges"]["CategoricalParameterRanges"] == [{"Name": "batch-size", "Values": ["32", "64"]}]
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] is metrics.METRIC_DEFINITIONS
    assert definition["StaticHyperParameters"] == {
        "epochs": "5", "image-size": "224", "weights": '"imagenet"', "fine-tune": '"full"',
        "sagemaker_program": '"hpo.py"', "sagemaker_submit_directory": json.dumps(SOURCE),
    }  # fmt: skip
    assert definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/datasets/d.zip"
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert definition["CheckpointConfig"] == {"S3Uri": "s3://data/jobs/dogbreeds-1a2b3c4d5e-hpo/checkpoints"}
    assert definition["OutputDataConfig"]["S3OutputPath"].startswith("s3://data/jobs/")
    assert request["Tags"] == [{"Key": "pipeline-run", "Value": "run-1"}]


def test_training_job_request_has_debugger_rules_and_profiler():
    request = training_job_request(
        name="dogbreeds-1a2b3c4d5e-train", settings=SETTINGS, hyperparameters={"lr": 0.003, "batch-size": 64},
        dataset_uri="s3://data/datasets/d.zip", source_uri=SOURCE, rule_image="rules:latest", tags=TAGS,
    )  # fmt: skip
    accepted_by_botocore(
        "create_training_job", request, {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert request["HyperParameters"]["lr"] == "0.003" and request["HyperParameters"]["batch-size"] == "64"
    assert request["HyperParameters"]["sagemaker_program"] == '"train_model.py"'
    assert request["DebugHookConfig"] == {
        "S3OutputPath": "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/debug-output",
        "CollectionConfigurations": [{"CollectionName": "losses", "CollectionParameters": {"save_interval": "1"}}],
    }
    rules = {rule["RuleConfigurationName"]: rule for rule in request["DebugRuleConfigurations"]}
    assert set(rules) == {"LossNotDecreasing", "Overfit", "Overtraining"}
    assert all(rule["RuleEvaluatorImage"] == "rules:latest" for rule in rules.values())
    assert rules["Overfit"]["RuleParameters"] == {"rule_to_invoke": "Overfit"}
    assert request["ProfilerRuleConfigurations"][0]["RuleParameters"] == {"rule_to_invoke": "ProfilerReport"}
    assert request["ProfilerConfig"]["S3OutputPath"] == "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/profiler-output"
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://data/models/"}
    assert request["CheckpointConfig"]["S3Uri"] == "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/checkpoints"


def test_no_spot_means_no_checkpoints_or_wait_time():
    on_demand = JobSettings(**{**SETTINGS.__dict__, "use_spot": False})
    request = training_job_request(
        name="x-train", settings=on_demand, hyperparameters={}, dataset_uri="s3://d/x.zip", source_uri=SOURCE,
        rule_image="r", tags=TAGS,
    )  # fmt: skip
    assert "CheckpointConfig" not in request and request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert request["EnableManagedSpotTraining"] is False


ENDPOINT = EndpointSettings(
    role_arn="arn:aws:iam::123456789012:role/sm", image_uri="inference:cpu", instance_type="ml.m5.large",
    serverless=False, serverless_memory_mb=3072, serverless_max_concurrency=2,
)  # fmt: skip


def test_model_and_endpoint_config_requests():
    model_data = "s3://data/models/x/model.tar.gz"
    model = model_request(name="m", settings=ENDPOINT, model_data=model_data, test_accuracy=0.9, tags=TAGS)
    accepted_by_botocore("create_model", model, {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"})
    assert model["PrimaryContainer"]["Environment"]["MODEL_TEST_ACCURACY"] == "0.900000"
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    instance = endpoint_config_request(name="c", model_name="m", settings=ENDPOINT, tags=TAGS)
    accepted_by_botocore(
        "create_endpoint_config", instance, {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert instance["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    serverless = endpoint_config_request(
        name="c", model_name="m", settings=EndpointSettings(**{**ENDPOINT.__dict__, "serverless": True}), tags=TAGS
    )
    accepted_by_botocore(
        "create_endpoint_config", serverless, {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert serverless["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 2}
    assert "InstanceType" not in serverless["ProductionVariants"][0]


@pytest.mark.parametrize(("provisioned", "expected"), [(0, None), (1, 1), (2, 2)])
def test_provisioned_concurrency_reaches_the_serverless_config_only_when_asked_for(provisioned, expected):
    """0 (the default) leaves the field out: the API's minimum is 1, and no warm capacity is billed."""
    settings = EndpointSettings(
        **{**ENDPOINT.__dict__, "serverless": True, "serverless_provisioned_concurrency": provisioned}
    )
    request = endpoint_config_request(name="c", model_name="m", settings=settings, tags=TAGS)
    accepted_by_botocore(
        "create_endpoint_config", request, {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert request["ProductionVariants"][0]["ServerlessConfig"].get("ProvisionedConcurrency") == expected
    instance = endpoint_config_request(
        name="c", model_name="m", settings=EndpointSettings(**{**settings.__dict__, "serverless": False}), tags=TAGS
    )
    assert "ServerlessConfig" not in instance["ProductionVariants"][0]


def test_update_is_blue_green_with_automatic_rollback():
    request = update_endpoint_request(endpoint_name="e", config_name="c", serverless=False, rollback_alarm="errors")
    accepted_by_botocore("update_endpoint", request, {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"})
    policy = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert policy["TerminationWaitInSeconds"] > 0  # a baking period: the alarm can still send traffic back
    assert request["DeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "errors"}]}
    assert update_endpoint_request(endpoint_name="e", config_name="c", serverless=True, rollback_alarm="errors") == {
        "EndpointName": "e",
        "EndpointConfigName": "c",
    }


def test_names_are_deterministic_and_within_limits():
    run_id = naming.execution_name("bucket", "datasets/" + "x" * 200 + ".zip", "v1")
    assert len(run_id) <= 80 and run_id == naming.execution_name("bucket", "datasets/" + "x" * 200 + ".zip", "v1")
    assert run_id != naming.execution_name("bucket", "datasets/" + "x" * 200 + ".zip", "v2")
    assert len(naming.tuning_job_name("abcdefghijkl", run_id)) <= 32
    with pytest.raises(ValueError, match="invalid SageMaker name"):
        naming.tuning_job_name("a" * 30, run_id)


def test_hyperparameters_keep_their_types_through_json():
    assert encode_hyperparameters({"lr": 0.001, "batch-size": 32, "weights": "none"}) == {
        "lr": "0.001",
        "batch-size": "32",
        "weights": '"none"',
    }
    assert parse_batch_sizes("16, 32,64") == (16, 32, 64)
    with pytest.raises(ValueError, match="BATCH_SIZES"):
        parse_batch_sizes("0,x")
