"""Every SageMaker request the pipeline builds, validated by botocore's service model, with exact shapes."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from common import naming
from common.sagemaker_requests import (
    EndpointSettings,
    JobSettings,
    PackageRecord,
    TuningSettings,
    encode_hyperparameters,
    endpoint_config_request,
    inference_container,
    model_from_package_request,
    model_package_request,
    parse_batch_sizes,
    training_job_request,
    tuning_job_request,
    update_endpoint_request,
    warm_start_config,
)
from model_code import gpus, metrics, rule_settings

SETTINGS = JobSettings(
    bucket="data", jobs_prefix="jobs/", models_prefix="models/", role_arn="arn:aws:iam::123456789012:role/sm",
    region="eu-west-1", image_uri="img:cpu", instance_type="ml.m5.large", use_spot=True, max_runtime_seconds=3600,
    epochs=5, image_size=224, weights="imagenet", arch="resnet18", extra_hyperparameters={"fine-tune": "full"},
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


def accepted_tuning_request(settings: JobSettings) -> dict:
    """The tuning job's request for ``settings``, which botocore's model accepts."""
    request = tuning_job_request(
        name="dogbreeds-1a2b3c4d5e-hpo", settings=settings, tuning=TUNING, dataset_uri="s3://data/datasets/d.zip",
        dataset_fingerprint="f1", source_uri=SOURCE, tags=TAGS,
    )  # fmt: skip
    accepted_by_botocore(
        "create_hyper_parameter_tuning_job",
        request,
        {"HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"},
    )
    return request


def test_tuning_job_request():
    request = accepted_tuning_request(SETTINGS)
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
        "arch": '"resnet18"', "epochs": "5", "image-size": "224", "weights": '"imagenet"',
        "dataset-fingerprint": '"f1"', "fine-tune": '"full"',
        "sagemaker_program": '"hpo.py"', "sagemaker_submit_directory": json.dumps(SOURCE),
        # the reserved hyperparameters the SageMaker SDK's Framework estimators add (SageMaker names each trial:
        # no job name among a tuning job's static values, which warm starts compare run to run)
        "sagemaker_container_log_level": "20", "sagemaker_region": '"eu-west-1"',
    }  # fmt: skip
    assert definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/datasets/d.zip"
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert definition["CheckpointConfig"] == {"S3Uri": "s3://data/jobs/dogbreeds-1a2b3c4d5e-hpo/checkpoints"}
    assert definition["OutputDataConfig"]["S3OutputPath"].startswith("s3://data/jobs/")
    assert request["Tags"] == [{"Key": "pipeline-run", "Value": "run-1"}]


def training_request(debugger_service: bool, settings: JobSettings = SETTINGS) -> dict:
    return training_job_request(
        name="dogbreeds-1a2b3c4d5e-train", settings=settings, hyperparameters={"lr": 0.003, "batch-size": 64},
        dataset_uri="s3://data/datasets/d.zip", dataset_fingerprint="f1", source_uri=SOURCE,
        debugger_service=debugger_service, rule_image="rules:latest", tags=TAGS,
    )  # fmt: skip


DEBUGGER_SERVICE_KEYS = {"DebugHookConfig", "DebugRuleConfigurations", "ProfilerConfig", "ProfilerRuleConfigurations"}


def test_training_job_request_without_the_debugger_service():
    """The default, for accounts opened after Debugger closed: no Debugger field at all; the job judges its
    losses itself and its MetricDefinitions capture the verdicts."""
    request = training_request(debugger_service=False)
    accepted_by_botocore(
        "create_training_job", request, {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert not DEBUGGER_SERVICE_KEYS & set(request)
    assert request["HyperParameters"]["lr"] == "0.003" and request["HyperParameters"]["batch-size"] == "64"
    assert request["HyperParameters"]["sagemaker_program"] == '"train_model.py"'
    assert request["HyperParameters"]["sagemaker_region"] == '"eu-west-1"'
    assert request["HyperParameters"]["sagemaker_job_name"] == '"dogbreeds-1a2b3c4d5e-train"'
    hyperparameters = request["HyperParameters"]
    assert (hyperparameters["dataset-fingerprint"], hyperparameters["arch"]) == ('"f1"', '"resnet18"')
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    assert definitions == metrics.METRIC_DEFINITIONS + rule_settings.RULE_METRIC_DEFINITIONS
    assert {"Name": "debugger_rule_Overfit", "Regex": r"\bdebugger_rule_Overfit=([0-9])"} in definitions
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://data/models/"}
    assert request["CheckpointConfig"]["S3Uri"] == "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/checkpoints"


def test_training_job_request_with_the_debugger_service_has_its_rules_and_profiler():
    request = training_request(debugger_service=True)
    accepted_by_botocore(
        "create_training_job", request, {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert request == training_request(debugger_service=False) | {key: request[key] for key in DEBUGGER_SERVICE_KEYS}
    assert request["DebugHookConfig"] == {
        "S3OutputPath": "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/debug-output",
        "CollectionConfigurations": [{"CollectionName": "losses", "CollectionParameters": {"save_interval": "1"}}],
    }
    rules = {rule["RuleConfigurationName"]: rule for rule in request["DebugRuleConfigurations"]}
    assert set(rules) == {"LossNotDecreasing", "Overfit", "Overtraining"}
    assert all(rule["RuleEvaluatorImage"] == "rules:latest" for rule in rules.values())
    # the service's rule jobs judge with the parameters the job's own evaluation uses
    assert rules["Overfit"]["RuleParameters"] == {
        "rule_to_invoke": "Overfit", "start_step": "0", "patience": "3", "ratio_threshold": "1",
    }  # fmt: skip
    assert rules["LossNotDecreasing"]["RuleParameters"] == {
        "rule_to_invoke": "LossNotDecreasing",
        **rule_settings.rule_parameters(5)["LossNotDecreasing"],  # the job's epochs
    }
    assert request["ProfilerRuleConfigurations"][0]["RuleParameters"] == {"rule_to_invoke": "ProfilerReport"}
    assert request["ProfilerConfig"]["S3OutputPath"] == "s3://data/jobs/dogbreeds-1a2b3c4d5e-train/profiler-output"


def test_no_spot_means_no_checkpoints_or_wait_time():
    on_demand = JobSettings(**{**SETTINGS.__dict__, "use_spot": False})
    request = training_request(debugger_service=False, settings=on_demand)
    assert "CheckpointConfig" not in request and request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert request["EnableManagedSpotTraining"] is False


@pytest.mark.parametrize(
    ("instance_type", "instance_count", "processes"),
    [("ml.g5.12xlarge", 1, 4), ("ml.g5.xlarge", 2, 2), ("ml.p3.8xlarge", 2, 8), ("ml.m5.large", 2, 0)],
)
def test_a_final_job_with_more_than_one_gpu_in_all_trains_on_every_gpu(instance_type, instance_count, processes):
    """GPUs per instance x instances > 1: the torch_distributed distribution as the SageMaker SDK's PyTorch estimator
    sends it, and every instance asked for. Two CPU instances stay one process each: no distribution."""
    settings = JobSettings(**{**SETTINGS.__dict__, "instance_type": instance_type, "instance_count": instance_count})
    request = training_request(debugger_service=False, settings=settings)
    accepted_by_botocore(
        "create_training_job", request, {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert request["ResourceConfig"] == {"InstanceType": instance_type, "InstanceCount": instance_count,
                                         "VolumeSizeInGB": 30}  # fmt: skip
    distribution = {key: request["HyperParameters"].get(key) for key in (gpus.TORCH_DISTRIBUTED, gpus.INSTANCE_TYPE)}
    if processes:
        assert distribution == {gpus.TORCH_DISTRIBUTED: "true", gpus.INSTANCE_TYPE: json.dumps(instance_type)}
        assert gpus.gpus_per_instance(instance_type) * instance_count == processes
    else:
        assert distribution == {gpus.TORCH_DISTRIBUTED: None, gpus.INSTANCE_TYPE: None}
    single = training_request(debugger_service=False)  # one CPU instance: today's request, untouched
    assert single["ResourceConfig"]["InstanceCount"] == 1 and gpus.TORCH_DISTRIBUTED not in single["HyperParameters"]


def test_tuning_trials_stay_single_instance_and_use_every_gpu_of_theirs():
    four_gpus = JobSettings(**{**SETTINGS.__dict__, "instance_type": "ml.g4dn.12xlarge", "instance_count": 3})
    request = accepted_tuning_request(four_gpus)
    definition = request["TrainingJobDefinition"]
    assert definition["ResourceConfig"]["InstanceCount"] == 1
    assert definition["StaticHyperParameters"][gpus.TORCH_DISTRIBUTED] == "true"


def test_an_instance_type_without_a_known_gpu_count_is_refused_by_name():
    with pytest.raises(ValueError, match=r"no GPU count known for instance type 'ml\.x9\.huge'"):
        gpus.is_distributed("ml.x9.huge", 1)


ENDPOINT = EndpointSettings(
    role_arn="arn:aws:iam::123456789012:role/sm", instance_type="ml.m5.large",
    serverless=False, serverless_memory_mb=3072, serverless_max_concurrency=2,
)  # fmt: skip


PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/3"


def test_a_model_package_version_carries_the_container_metrics_and_lineage():
    model_data = "s3://data/models/x/model.tar.gz"
    record = PackageRecord(
        group="dogbreeds-models", client_token=naming.register_token("run-1"), approval="PendingManualApproval",
        description="digits.zip: test accuracy 0.9926, run run-1",
        container=inference_container(image_uri="inference:cpu", model_data=model_data),
        metadata={"metric.test-accuracy": "0.9926"}, metrics_uri="s3://data/models/x/registry/metrics.json",
        metrics_digest="ab" * 32, execution_arn="arn:aws:states:us-east-1:123456789012:execution:p:run-1",
        project="dogbreeds", tags=TAGS,
    )  # fmt: skip
    request = model_package_request(record)
    accepted_by_botocore("create_model_package", request, {"ModelPackageArn": PACKAGE_ARN})
    assert "ModelPackageName" not in request  # a versioned package: the group numbers it
    assert request["ClientToken"] == naming.register_token("run-1") != naming.register_token("run-2")
    assert len(request["ClientToken"]) <= 36
    (container,) = request["InferenceSpecification"]["Containers"]
    assert container == {
        "Image": "inference:cpu", "ModelDataUrl": model_data,
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": model_data,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        },
    }  # fmt: skip
    assert request["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json", "S3Uri": record.metrics_uri, "ContentDigest": "sha256:" + "ab" * 32,
    }  # fmt: skip
    assert request["InferenceSpecification"]["SupportedContentTypes"] == [
        "application/json", "application/x-image", "image/jpeg", "image/png",
    ]  # fmt: skip


def test_model_and_endpoint_config_requests():
    model = model_from_package_request(name="m", role_arn=ENDPOINT.role_arn, package_arn=PACKAGE_ARN, tags=TAGS)
    accepted_by_botocore("create_model", model, {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"})
    assert model["PrimaryContainer"] == {"ModelPackageName": PACKAGE_ARN}  # the package says what is served
    instance = endpoint_config_request(name="c", model_name="m", settings=ENDPOINT, tags=TAGS)
    accepted_by_botocore(
        "create_endpoint_config", instance, {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"}
    )
    assert instance["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
    scaled = endpoint_config_request(
        name="c", model_name="m", settings=EndpointSettings(**{**ENDPOINT.__dict__, "min_instances": 3}), tags=TAGS
    )
    assert scaled["ProductionVariants"][0]["InitialInstanceCount"] == 3  # autoscaling's minimum from the start
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
    assert request["RetainAllVariantProperties"] is True  # the scaled instance count survives the update
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


def tuning_request(fingerprint="f1", source=SOURCE, settings=SETTINGS, tuning=TUNING) -> dict:
    return tuning_job_request(
        name="dogbreeds-9999999999-hpo", settings=settings, tuning=tuning, dataset_uri="s3://data/jobs/r/d.zip",
        dataset_fingerprint=fingerprint, source_uri=source, tags=TAGS,
    )  # fmt: skip


def described(name: str, request: dict, trials: int = 4, status: str = "Completed") -> dict:
    """What DescribeHyperParameterTuningJob answers for an earlier job created from ``request``."""
    counters = {"Completed": trials, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobStatus": status,
        "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": request["TrainingJobDefinition"],
        "TrainingJobStatusCounters": counters,
    }


def test_same_dataset_and_code_warm_start_as_identical_data_and_algorithm():
    request = tuning_request()
    earlier = [described("dogbreeds-2-hpo", tuning_request(fingerprint="other")), described("dogbreeds-1-hpo", request)]
    config = warm_start_config(request, earlier)
    assert config == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "dogbreeds-1-hpo"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    accepted_by_botocore(
        "create_hyper_parameter_tuning_job",
        request | {"WarmStartConfig": config},
        {"HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y"},
    )


def test_another_dataset_or_code_warm_starts_as_transfer_learning():
    request = tuning_request()
    earlier = [
        described("dogbreeds-3-hpo", tuning_request(fingerprint="older-dataset")),
        described("dogbreeds-2-hpo", tuning_request(source="s3://data/code/sourcedir-fedcba9876543210.tar.gz")),
    ]
    assert warm_start_config(request, earlier) == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": "dogbreeds-3-hpo"},
            {"HyperParameterTuningJobName": "dogbreeds-2-hpo"},
        ],
        "WarmStartType": "TransferLearning",
    }


def test_warm_start_keeps_to_the_limits_aws_documents():
    request = tuning_request()
    many = [described(f"dogbreeds-{n}-hpo", request) for n in range(8)]
    parents = warm_start_config(request, many)["ParentHyperParameterTuningJobs"]
    assert [p["HyperParameterTuningJobName"] for p in parents] == [f"dogbreeds-{n}-hpo" for n in range(5)]  # 5 newest
    # the parents' training jobs and the new job's together at most 500
    big = [described("dogbreeds-a-hpo", request, trials=300), described("dogbreeds-b-hpo", request, trials=300)]
    assert len(warm_start_config(request, big)["ParentHyperParameterTuningJobs"]) == 1
    # AWS refuses these pairs: another objective, other hyperparameter names, another range type, > 10 changes
    other_objective = tuning_request()
    other_objective["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "valid_loss"
    more_names = tuning_request(settings=JobSettings(**{**SETTINGS.__dict__, "extra_hyperparameters": {"hflip": "0"}}))
    integer_lr = tuning_request()
    ranges = integer_lr["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["IntegerParameterRanges"] = [dict(ranges.pop("ContinuousParameterRanges")[0], MinValue="1", MaxValue="9")]
    ranges["ContinuousParameterRanges"] = []
    changed = {"epochs": 9, "image_size": 96, "weights": "none", "arch": "resnet50"}
    many_changes = tuning_request(
        fingerprint="x", source="s3://data/code/other.tar.gz", settings=JobSettings(**{**SETTINGS.__dict__, **changed})
    )  # six static values changed: 12 changes
    for refused in (other_objective, more_names, integer_lr, many_changes):
        assert warm_start_config(request, [described("dogbreeds-x-hpo", refused)]) is None
    assert warm_start_config(request, [described("dogbreeds-x-hpo", request, status="Stopped")]) is None
    assert warm_start_config(request, []) is None
