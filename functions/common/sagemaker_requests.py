"""Pure builders of every SageMaker request the pipeline sends, from plain settings.

Unit-tested against botocore's service model without AWS. Hyperparameters are JSON-encoded as the
SageMaker SDK writes them (the sagemaker-training toolkit decodes them); tuned ranges are plain strings.
"""

import json
from dataclasses import dataclass, field

import smdebug_rulesconfig

from model_code.metrics import METRIC_DEFINITIONS, OBJECTIVE_METRIC, OBJECTIVE_TYPE

TRAINING_CHANNEL = "training"
HPO_PROGRAM = "hpo.py"
TRAIN_PROGRAM = "train_model.py"
DEBUGGER_RULES = ("LossNotDecreasing", "Overfit", "Overtraining")
PROFILER_REPORT = "ProfilerReport"
LOSS_SAVE_INTERVAL = "1"  # every step: the loss curve and the rules see the whole run


@dataclass(frozen=True)
class JobSettings:
    """What the template configures for tuning trials and the final training job."""

    bucket: str
    jobs_prefix: str
    models_prefix: str
    role_arn: str
    image_uri: str
    instance_type: str
    use_spot: bool
    max_runtime_seconds: int
    epochs: int
    image_size: int
    weights: str
    extra_hyperparameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TuningSettings:
    max_jobs: int
    max_parallel_jobs: int
    learning_rate_min: float
    learning_rate_max: float
    batch_sizes: tuple[int, ...]


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    message = f"BATCH_SIZES must be a comma-separated list of positive integers, got {text!r}"
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError as error:
        raise ValueError(message) from error
    if not sizes or any(size < 1 for size in sizes):
        raise ValueError(message)
    return sizes


def encode_hyperparameters(values: dict) -> dict[str, str]:
    """SageMaker SDK style: every value JSON-encoded (strings get quotes), so types survive the trip."""
    return {key: json.dumps(value) for key, value in values.items()}


def static_hyperparameters(settings: JobSettings, program: str, source_uri: str) -> dict[str, str]:
    values = {
        "epochs": settings.epochs,
        "image-size": settings.image_size,
        "weights": settings.weights,
        **settings.extra_hyperparameters,
        "sagemaker_program": program,
        "sagemaker_submit_directory": source_uri,
    }
    return encode_hyperparameters(values)


def _stopping_condition(settings: JobSettings) -> dict:
    condition = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.use_spot:  # spot waits for capacity on top of the run itself
        condition["MaxWaitTimeInSeconds"] = 2 * settings.max_runtime_seconds
    return condition


def _input_channel(dataset_uri: str) -> list[dict]:
    """One channel holding the run's pinned copy of the validated zip; the scripts extract it safely."""
    source = {"S3DataType": "S3Prefix", "S3Uri": dataset_uri, "S3DataDistributionType": "FullyReplicated"}
    return [{"ChannelName": TRAINING_CHANNEL, "DataSource": {"S3DataSource": source}, "InputMode": "File"}]


def tuning_job_request(
    *,
    name: str,
    settings: JobSettings,
    tuning: TuningSettings,
    dataset_uri: str,
    source_uri: str,
    tags: list[dict],
) -> dict:
    """CreateHyperParameterTuningJob: Bayesian over lr (log) and batch size, maximising validation accuracy."""
    prefix = f"s3://{settings.bucket}/{settings.jobs_prefix}{name}"
    definition = {
        "StaticHyperParameters": static_hyperparameters(settings, HPO_PROGRAM, source_uri),
        "AlgorithmSpecification": {
            "TrainingImage": settings.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.role_arn,
        "InputDataConfig": _input_channel(dataset_uri),
        "OutputDataConfig": {"S3OutputPath": f"{prefix}/trials"},
        "ResourceConfig": {"InstanceType": settings.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": _stopping_condition(settings),
        "EnableManagedSpotTraining": settings.use_spot,
    }
    if settings.use_spot:
        definition["CheckpointConfig"] = {"S3Uri": f"{prefix}/checkpoints"}
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": OBJECTIVE_TYPE, "MetricName": OBJECTIVE_METRIC},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": tuning.max_jobs,
                "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
            },
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "lr",
                        "MinValue": str(tuning.learning_rate_min),
                        "MaxValue": str(tuning.learning_rate_max),
                        "ScalingType": "Logarithmic",
                    }
                ],
                "CategoricalParameterRanges": [
                    {"Name": "batch-size", "Values": [str(size) for size in tuning.batch_sizes]}
                ],
                "IntegerParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Auto",
        },
        "TrainingJobDefinition": definition,
        "Tags": tags,
    }


def debugger_rules(rule_image: str) -> list[dict]:
    """LossNotDecreasing, Overfit, Overtraining as smdebug_rulesconfig defines them, on the region's image."""
    rules = []
    configurations = (
        smdebug_rulesconfig.loss_not_decreasing(),
        smdebug_rulesconfig.overfit(),
        smdebug_rulesconfig.overtraining(),
    )
    for rule in configurations:
        configuration = rule["DebugRuleConfiguration"]
        rules.append(
            {
                "RuleConfigurationName": configuration["RuleConfigurationName"],
                "RuleEvaluatorImage": rule_image,
                "RuleParameters": configuration["RuleParameters"],
            }
        )
    return rules


def training_job_request(
    *,
    name: str,
    settings: JobSettings,
    hyperparameters: dict,
    dataset_uri: str,
    source_uri: str,
    rule_image: str,
    tags: list[dict],
) -> dict:
    """CreateTrainingJob for train_model.py with the tuned hyperparameters, Debugger and the profiler."""
    jobs = f"s3://{settings.bucket}/{settings.jobs_prefix}{name}"
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": settings.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.role_arn,
        "HyperParameters": static_hyperparameters(settings, TRAIN_PROGRAM, source_uri)
        | encode_hyperparameters(hyperparameters),
        "InputDataConfig": _input_channel(dataset_uri),
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.bucket}/{settings.models_prefix}"},
        "ResourceConfig": {"InstanceType": settings.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": _stopping_condition(settings),
        "EnableManagedSpotTraining": settings.use_spot,
        "DebugHookConfig": {
            "S3OutputPath": f"{jobs}/debug-output",
            "CollectionConfigurations": [
                {"CollectionName": "losses", "CollectionParameters": {"save_interval": LOSS_SAVE_INTERVAL}}
            ],
        },
        "DebugRuleConfigurations": debugger_rules(rule_image),
        "ProfilerConfig": {"S3OutputPath": f"{jobs}/profiler-output", "ProfilingIntervalInMilliseconds": 500},
        "ProfilerRuleConfigurations": [
            {
                "RuleConfigurationName": PROFILER_REPORT,
                "RuleEvaluatorImage": rule_image,
                "RuleParameters": {"rule_to_invoke": PROFILER_REPORT},
            }
        ],
        "Tags": tags,
    }
    if settings.use_spot:
        request["CheckpointConfig"] = {"S3Uri": f"{jobs}/checkpoints"}
    return request


@dataclass(frozen=True)
class EndpointSettings:
    role_arn: str
    image_uri: str
    instance_type: str
    serverless: bool
    serverless_memory_mb: int
    serverless_max_concurrency: int
    serverless_provisioned_concurrency: int = 0  # warm capacity kept (billed idle); 0 = scale to zero


def model_request(*, name: str, settings: EndpointSettings, model_data: str, test_accuracy: float, tags: list) -> dict:
    """CreateModel: the inference image over model.tar.gz; the model's test accuracy travels with it."""
    return {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {
            "Image": settings.image_uri,
            "ModelDataUrl": model_data,
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": model_data,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "MODEL_TEST_ACCURACY": f"{test_accuracy:.6f}",
            },
        },
        "Tags": tags,
    }


def endpoint_config_request(*, name: str, model_name: str, settings: EndpointSettings, tags: list) -> dict:
    variant = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if settings.serverless:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": settings.serverless_memory_mb,
            "MaxConcurrency": settings.serverless_max_concurrency,
        }
        if settings.serverless_provisioned_concurrency:  # the API's minimum is 1: 0 is expressed by leaving it out
            variant["ServerlessConfig"]["ProvisionedConcurrency"] = settings.serverless_provisioned_concurrency
    else:
        variant |= {"InstanceType": settings.instance_type, "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}
    return {"EndpointConfigName": name, "ProductionVariants": [variant], "Tags": tags}


VARIANT_NAME = "AllTraffic"  # template.yaml's rollback alarm watches this variant
BAKING_SECONDS = 300  # the old fleet is kept this long after the switch, watched by the rollback alarm


def update_endpoint_request(*, endpoint_name: str, config_name: str, serverless: bool, rollback_alarm: str) -> dict:
    """Blue/green with automatic rollback: the old fleet serves until the new one is healthy, and stays for a
    baking period during which the 5xx alarm sends traffic back to it."""
    request = {"EndpointName": endpoint_name, "EndpointConfigName": config_name}
    if not serverless:  # serverless endpoints take no deployment config here (see docs/architecture.md)
        request["DeploymentConfig"] = {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": BAKING_SECONDS,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": rollback_alarm}]},
        }
        request["RetainAllVariantProperties"] = False
    return request
