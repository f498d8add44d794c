"""Pure builders of every SageMaker request the pipeline sends, from plain settings.

Unit-tested against botocore's service model without AWS. Hyperparameters are JSON-encoded as the
SageMaker SDK writes them (the sagemaker-training toolkit decodes them); tuned ranges are plain strings.
"""

import json
from dataclasses import dataclass, field

import smdebug_rulesconfig

from common.job_limits import BAKING_SECONDS, longest_job_seconds
from model_code.gpus import distribution_hyperparameters
from model_code.metrics import METRIC_DEFINITIONS, OBJECTIVE_METRIC, OBJECTIVE_TYPE
from model_code.quotas import TRAINING_INSTANCE_COUNT
from model_code.rule_settings import LOSS_SAVE_INTERVAL, LOSSES_COLLECTION, RULE_METRIC_DEFINITIONS, rule_parameters
from model_code.serving_limits import IMAGE_CONTENT_TYPES, JSON_CONTENT_TYPE

TRAINING_CHANNEL = "training"
HPO_PROGRAM = "hpo.py"
TRAIN_PROGRAM = "train_model.py"
PROFILER_REPORT = "ProfilerReport"
CONTAINER_LOG_LEVEL = 20  # logging.INFO, the SageMaker SDK's default container_log_level
# Warm start (AWS's documented restrictions): at most 5 parents; their training jobs and the new job's
# together at most 500; the same objective; the same hyperparameter names (static plus tunable) with the
# same range types; at most 10 changes (a static value changed counts 2, a tuned range made static counts
# its values, one for a continuous or integer range).
MAX_WARM_START_PARENTS = 5
MAX_TRAINING_JOBS_PER_TUNING_JOB = 500
MAX_WARM_START_CHANGES = 10
IDENTICAL_DATA_AND_ALGORITHM = "IdenticalDataAndAlgorithm"
TRANSFER_LEARNING = "TransferLearning"


@dataclass(frozen=True)
class JobSettings:
    """What the template configures for tuning trials and the final training job."""

    bucket: str
    jobs_prefix: str
    models_prefix: str
    role_arn: str
    region: str
    image_uri: str
    instance_type: str
    use_spot: bool
    max_runtime_seconds: int
    epochs: int
    image_size: int
    weights: str
    arch: str
    extra_hyperparameters: dict[str, str] = field(default_factory=dict)
    instance_count: int = TRAINING_INSTANCE_COUNT  # of the final job; tuning trials stay single-instance


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


def static_hyperparameters(
    settings: JobSettings,
    program: str,
    source_uri: str,
    dataset_fingerprint: str,
    job_name: str | None = None,
    instance_count: int = TRAINING_INSTANCE_COUNT,
) -> dict[str, str]:
    """The script's settings plus the reserved ones the SageMaker SDK's Framework estimators send (the
    sagemaker-training toolkit reads them: entry point, code, log level, SAGEMAKER_REGION and, for a training
    job, SAGEMAKER_JOB_NAME; with more than one GPU in all, the torch_distributed distribution: model_code/gpus.py).
    A tuning job's static values leave the job name out: SageMaker names each trial, and a name that changes every
    run would make no two runs' static values alike (warm starts compare them)."""
    values = {
        "arch": settings.arch,
        "epochs": settings.epochs,
        "image-size": settings.image_size,
        "weights": settings.weights,
        "dataset-fingerprint": dataset_fingerprint,  # the dataset's identity, for warm starts and the metadata
        **settings.extra_hyperparameters,
        "sagemaker_program": program,
        "sagemaker_submit_directory": source_uri,
        "sagemaker_container_log_level": CONTAINER_LOG_LEVEL,
        "sagemaker_region": settings.region,
        **distribution_hyperparameters(settings.instance_type, instance_count),
    } | ({"sagemaker_job_name": job_name} if job_name else {})
    return encode_hyperparameters(values)


def _stopping_condition(settings: JobSettings) -> dict:
    condition = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.use_spot:  # spot waits for capacity on top of the run itself
        condition["MaxWaitTimeInSeconds"] = longest_job_seconds(settings.max_runtime_seconds, use_spot=True)
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
    dataset_fingerprint: str,
    source_uri: str,
    tags: list[dict],
) -> dict:
    """CreateHyperParameterTuningJob: Bayesian over lr (log) and batch size, maximising validation accuracy."""
    prefix = f"s3://{settings.bucket}/{settings.jobs_prefix}{name}"
    definition = {
        "StaticHyperParameters": static_hyperparameters(settings, HPO_PROGRAM, source_uri, dataset_fingerprint),
        "AlgorithmSpecification": {
            "TrainingImage": settings.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.role_arn,
        "InputDataConfig": _input_channel(dataset_uri),
        "OutputDataConfig": {"S3OutputPath": f"{prefix}/trials"},
        "ResourceConfig": {
            "InstanceType": settings.instance_type,
            "InstanceCount": TRAINING_INSTANCE_COUNT,
            "VolumeSizeInGB": 30,
        },
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


def _tuned_ranges(config: dict) -> dict[str, tuple[str, int]]:
    """name -> (range type, changes it counts when made static) of a HyperParameterTuningJobConfig."""
    ranges = config.get("ParameterRanges", {})
    tuned = {}
    for kind in ("ContinuousParameterRanges", "IntegerParameterRanges", "CategoricalParameterRanges"):
        for r in ranges.get(kind, []):
            tuned[r["Name"]] = (kind, len(r["Values"]) if kind == "CategoricalParameterRanges" else 1)
    return tuned


def warm_start_changes(request: dict, parent: dict) -> int | None:
    """How many warm-start changes ``request`` makes to ``parent`` (a DescribeHyperParameterTuningJob answer),
    or None when AWS refuses the pair whatever the count (objective, hyperparameter names or range types differ)."""
    config, parent_config = request["HyperParameterTuningJobConfig"], parent["HyperParameterTuningJobConfig"]
    if config["HyperParameterTuningJobObjective"] != parent_config["HyperParameterTuningJobObjective"]:
        return None
    tuned, parent_tuned = _tuned_ranges(config), _tuned_ranges(parent_config)
    static = request["TrainingJobDefinition"].get("StaticHyperParameters", {})
    parent_static = parent["TrainingJobDefinition"].get("StaticHyperParameters", {})
    if set(tuned) | set(static) != set(parent_tuned) | set(parent_static):
        return None
    if any(tuned[name][0] != parent_tuned[name][0] for name in set(tuned) & set(parent_tuned)):
        return None
    made_static = sum(parent_tuned[name][1] for name in set(parent_tuned) & set(static))
    changed = sum(2 for name in set(static) & set(parent_static) if static[name] != parent_static[name])
    return made_static + changed


def _same_data_and_algorithm(request: dict, parent: dict) -> bool:
    """Same image and the same static hyperparameters: the same code (content-hashed sourcedir), the same
    dataset (its fingerprint) and the same training settings."""
    definition, parent_definition = request["TrainingJobDefinition"], parent["TrainingJobDefinition"]
    return definition["AlgorithmSpecification"]["TrainingImage"] == parent_definition["AlgorithmSpecification"][
        "TrainingImage"
    ] and definition.get("StaticHyperParameters") == parent_definition.get("StaticHyperParameters")


def _trials(described: dict) -> int:
    return sum(described.get("TrainingJobStatusCounters", {}).values())


def warm_start_config(request: dict, earlier: list[dict]) -> dict | None:
    """The WarmStartConfig for a tuning job ``request`` from earlier Completed tuning jobs (Describe answers,
    newest first): IdenticalDataAndAlgorithm over the ones with the same data and code when there are any,
    else TransferLearning over the compatible ones; at most MAX_WARM_START_PARENTS, within AWS's limits.
    None when no earlier job qualifies."""
    budget = (
        MAX_TRAINING_JOBS_PER_TUNING_JOB
        - request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    )
    compatible = [
        parent
        for parent in earlier
        if parent["HyperParameterTuningJobStatus"] == "Completed"
        and (changes := warm_start_changes(request, parent)) is not None
        and changes <= MAX_WARM_START_CHANGES
    ]
    identical = [parent for parent in compatible if _same_data_and_algorithm(request, parent)]
    warm_start_type = IDENTICAL_DATA_AND_ALGORITHM if identical else TRANSFER_LEARNING
    parents = []
    for parent in identical or compatible:
        if len(parents) == MAX_WARM_START_PARENTS or _trials(parent) > budget:
            break
        budget -= _trials(parent)
        parents.append({"HyperParameterTuningJobName": parent["HyperParameterTuningJobName"]})
    if not parents:
        return None
    return {"ParentHyperParameterTuningJobs": parents, "WarmStartType": warm_start_type}


def debugger_rules(rule_image: str, epochs: int) -> list[dict]:
    """The service's rule jobs for LossNotDecreasing, Overfit, Overtraining: smdebug_rulesconfig's configurations
    with the parameters the job's own evaluation uses (rule_settings.rule_parameters of the job's epochs), so both
    judge alike."""
    parameters = rule_parameters(epochs)
    configurations = (
        smdebug_rulesconfig.loss_not_decreasing(),
        smdebug_rulesconfig.overfit(),
        smdebug_rulesconfig.overtraining(),
    )
    rules = []
    for rule in configurations:
        configuration = rule["DebugRuleConfiguration"]
        name = configuration["RuleConfigurationName"]
        rules.append(
            {
                "RuleConfigurationName": name,
                "RuleEvaluatorImage": rule_image,
                "RuleParameters": configuration["RuleParameters"] | parameters[name],
            }
        )
    return rules


def debugger_service_configuration(jobs_uri: str, rule_image: str, epochs: int) -> dict:
    """What an account that still has SageMaker Debugger adds: the hook configuration, the rule jobs and
    the profiler with its report (Debugger closed to new customers on 2026-07-30)."""
    return {
        "DebugHookConfig": {
            "S3OutputPath": f"{jobs_uri}/debug-output",
            "CollectionConfigurations": [
                {
                    "CollectionName": LOSSES_COLLECTION,
                    "CollectionParameters": {"save_interval": str(LOSS_SAVE_INTERVAL)},
                }
            ],
        },
        "DebugRuleConfigurations": debugger_rules(rule_image, epochs),
        "ProfilerConfig": {"S3OutputPath": f"{jobs_uri}/profiler-output", "ProfilingIntervalInMilliseconds": 500},
        "ProfilerRuleConfigurations": [
            {
                "RuleConfigurationName": PROFILER_REPORT,
                "RuleEvaluatorImage": rule_image,
                "RuleParameters": {"rule_to_invoke": PROFILER_REPORT},
            }
        ],
    }


def training_job_request(
    *,
    name: str,
    settings: JobSettings,
    hyperparameters: dict,
    dataset_uri: str,
    dataset_fingerprint: str,
    source_uri: str,
    debugger_service: bool,
    rule_image: str,
    tags: list[dict],
) -> dict:
    """CreateTrainingJob for train_model.py with the tuned hyperparameters. The job evaluates the loss rules
    itself and prints their verdicts, which its MetricDefinitions capture; ``debugger_service`` adds the
    Debugger service's hook configuration, rule jobs and profiler."""
    jobs = f"s3://{settings.bucket}/{settings.jobs_prefix}{name}"
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": settings.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS + RULE_METRIC_DEFINITIONS,
        },
        "RoleArn": settings.role_arn,
        "HyperParameters": static_hyperparameters(
            settings, TRAIN_PROGRAM, source_uri, dataset_fingerprint, name, settings.instance_count
        )
        | encode_hyperparameters(hyperparameters),
        "InputDataConfig": _input_channel(dataset_uri),
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.bucket}/{settings.models_prefix}"},
        "ResourceConfig": {
            "InstanceType": settings.instance_type,
            "InstanceCount": settings.instance_count,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": _stopping_condition(settings),
        "EnableManagedSpotTraining": settings.use_spot,
        "Tags": tags,
    }
    if debugger_service:
        epochs = int(json.loads(request["HyperParameters"]["epochs"]))  # as the script will read it
        request |= debugger_service_configuration(jobs, rule_image, epochs)
    if settings.use_spot:
        request["CheckpointConfig"] = {"S3Uri": f"{jobs}/checkpoints"}
    return request


@dataclass(frozen=True)
class EndpointSettings:
    role_arn: str
    instance_type: str
    serverless: bool
    serverless_memory_mb: int
    serverless_max_concurrency: int
    serverless_provisioned_concurrency: int = 0  # warm capacity kept (billed idle); 0 = scale to zero
    min_instances: int = 1  # an instance endpoint starts with its scaling's minimum (EndpointMinInstances)


def inference_container(*, image_uri: str, model_data: str) -> dict:
    """The inference image over model.tar.gz (which carries inference.py): what a model package specifies."""
    return {
        "Image": image_uri,
        "ModelDataUrl": model_data,
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": model_data,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": str(CONTAINER_LOG_LEVEL),
        },
    }


@dataclass(frozen=True)
class PackageRecord:
    """What Register knows of a trained model: the registry's version of it is built from this."""

    group: str  # the package group's name or ARN
    client_token: str  # one per run (naming.register_token): a retried Register finds its version
    approval: str  # model_code.registry's APPROVED, PENDING or REJECTED
    description: str  # one line; a refused model's carries the gate's reason (CreateModelPackage has no
    # ApprovalDescription: UpdateModelPackage alone sets that)
    container: dict  # inference_container(...)
    metadata: dict[str, str]  # model_code.registry.package_metadata(...)
    metrics_uri: str  # the JSON document of metrics and verdicts
    metrics_digest: str  # its SHA-256, hex
    execution_arn: str  # the run that trained it
    project: str  # the stack's SageMakerNamePrefix
    tags: list  # the run's, as on every resource a run makes


def model_package_request(record: PackageRecord) -> dict:
    """CreateModelPackage: a version in the stack's group (no ModelPackageName: a versioned package)."""
    return {
        "ModelPackageGroupName": record.group,
        "ClientToken": record.client_token,
        "ModelPackageDescription": record.description,
        "ModelApprovalStatus": record.approval,
        "InferenceSpecification": {
            "Containers": [record.container],
            "SupportedContentTypes": sorted(IMAGE_CONTENT_TYPES | {JSON_CONTENT_TYPE}),
            "SupportedResponseMIMETypes": [JSON_CONTENT_TYPE],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": JSON_CONTENT_TYPE,
                    "S3Uri": record.metrics_uri,
                    "ContentDigest": f"sha256:{record.metrics_digest}",
                }
            }
        },
        "MetadataProperties": {"GeneratedBy": record.execution_arn, "ProjectId": record.project},
        "CustomerMetadataProperties": record.metadata,
        "Tags": record.tags,
    }


def model_from_package_request(*, name: str, role_arn: str, package_arn: str, tags: list) -> dict:
    """CreateModel from an Approved version: the package, not the request, says what is served."""
    return {
        "ModelName": name,
        "ExecutionRoleArn": role_arn,
        "PrimaryContainer": {"ModelPackageName": package_arn},
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
        variant |= {
            "InstanceType": settings.instance_type,
            "InitialInstanceCount": settings.min_instances,
            "InitialVariantWeight": 1.0,
        }
    return {"EndpointConfigName": name, "ProductionVariants": [variant], "Tags": tags}


VARIANT_NAME = "AllTraffic"  # template.yaml's rollback alarm watches this variant


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
        # The new fleet starts with the live variant's current instance count (what autoscaling made it), not the
        # config's InitialInstanceCount: an update at a busy hour does not shrink the endpoint.
        request["RetainAllVariantProperties"] = True
    return request
