"""The SageMaker quotas a run of this stack needs, what the account has (read through Service Quotas), and how
to ask for more: one table of quota facts for the pipeline's CheckQuotas step, `dogbreeds doctor`, `make aws-smoke`
and the local twin, which enforces the same quotas. Standard library only: the Lambdas import it from the
model-code layer, the CLI from the wheel.

A new account's quotas can be 0 or small (training instances of a type, spot training, serverless
concurrency): SageMaker then refuses a job with ResourceLimitExceeded, after the earlier steps were paid for.
The run checks them first.

Facts, with their sources:
- Names and codes: ListServiceQuotas for service code ``sagemaker`` (a public dump of it, 2025-11). Codes are the
  same in every account; per-instance-type quotas (``<type> for training job usage``) are matched by name, the
  others by code. The spelling differs between quotas ("hyper parameter" in two, "hyperparameter" in another).
- ListServiceQuotas lists applied values only ("If the applied quota value is not available for a quota, the
  quota is not retrieved"); ListAWSDefaultServiceQuotas lists AWS's defaults (Service Quotas API reference).
- ResourceLimitExceeded's message, verbatim from real answers: "The account-level service limit '<name>' is
  <limit> Instances, with current utilization of <used> Instances and a request delta of <delta> Instances. ..."
  CreateHyperParameterTuningJob checks the per-type training quota for MaxParallelTrainingJobs x InstanceCount
  when the tuning job is created (a real answer: a delta of 2 for 2 parallel trials on a quota of 0).
- Every concurrent training instance of a tuning job counts against the account's training instances (the
  SageMaker developer guide, "Hyperparameter tuning limits").
- A blue/green endpoint update provisions the new fleet while the old one keeps serving, until the baking
  period ends ("Blue/Green Deployments", SageMaker developer guide; DeploymentConfig in the API reference:
  "SageMaker creates a new fleet during the deployment while maintaining the old fleet").
"""

from collections.abc import Mapping
from dataclasses import dataclass

SERVICE_CODE = "sagemaker"
TRAINING_INSTANCE_COUNT = 1  # instances of each tuning trial (the request builders send it); the final job's default
BLUE_GREEN_FLEETS = 2  # during an update the new fleet runs beside the old one


@dataclass(frozen=True)
class Quota:
    """One SageMaker quota: its name as Service Quotas spells it, its code where it is the same in every account
    (None for per-instance-type quotas, matched by name), and the unit ResourceLimitExceeded counts it in."""

    name: str
    code: str | None = None
    unit: str = "Instances"


TRAINING_INSTANCES = Quota("Number of instances across all training jobs", "L-00C91CB5")
SPOT_TRAINING_INSTANCES = Quota("Number of instances across all spot training jobs", "L-93958082")
TUNING_JOBS_AT_ONCE = Quota(
    "Maximum number of hyper parameter tuning jobs that can run at once in parallel", "L-9D782CC7", "Jobs"
)
PARALLEL_TRIALS = Quota(
    "Maximum number of training jobs each hyper parameter tuning job can run in parallel at once", "L-11294128", "Jobs"
)
TRIALS_PER_TUNING_JOB = Quota(
    "Maximum number of training jobs that each hyperparameter tuning job can create", "L-EAC49F53", "Jobs"
)
SERVERLESS_CONCURRENCY = Quota(
    "Maximum total concurrency that can be allocated across all serverless endpoints", "L-96300102", "Concurrency"
)
SERVERLESS_ENDPOINTS = Quota("Maximum number of serverless endpoints", "L-99AD19BF", "Endpoints")
# Named in real ResourceLimitExceeded answers ("... is 3072 MBs ..."); not in the 2025-11 listing, so its code is
# unknown: matched by name, and most accounts will report it as unreadable.
SERVERLESS_MEMORY = Quota("Memory size in MB per serverless endpoint", unit="MBs")


def training_instances(instance_type: str, spot: bool) -> Quota:
    """``ml.m5.large for training job usage`` (on-demand) or ``... for spot training job usage``."""
    return Quota(f"{instance_type} for {'spot training' if spot else 'training'} job usage")


def all_training_instances(spot: bool) -> Quota:
    return SPOT_TRAINING_INSTANCES if spot else TRAINING_INSTANCES


def endpoint_instances(instance_type: str) -> Quota:
    return Quota(f"{instance_type} for endpoint usage")


@dataclass(frozen=True)
class StackConfig:
    """What the stack's parameters say about the jobs and the endpoint a run creates."""

    tuning_instance_type: str
    training_instance_type: str
    endpoint_instance_type: str
    max_tuning_jobs: int
    max_parallel_tuning_jobs: int
    use_spot: bool
    serverless: bool
    serverless_memory_mb: int
    serverless_max_concurrency: int
    training_instance_count: int = TRAINING_INSTANCE_COUNT  # of the final job
    endpoint_max_instances: int = 1  # what autoscaling may grow an instance endpoint to

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> "StackConfig":
        """From template.yaml's parameter values (a deployed stack's, or the template's with a samconfig profile)."""
        return cls(
            tuning_instance_type=parameters["TuningInstanceType"],
            training_instance_type=parameters["TrainingInstanceType"],
            endpoint_instance_type=parameters["EndpointInstanceType"],
            max_tuning_jobs=int(parameters["MaxTuningJobs"]),
            max_parallel_tuning_jobs=int(parameters["MaxParallelTuningJobs"]),
            use_spot=parameters["UseSpotInstances"] == "true",
            serverless=parameters["ServerlessInference"] == "true",
            serverless_memory_mb=int(parameters["ServerlessMemorySizeMB"]),
            serverless_max_concurrency=int(parameters["ServerlessMaxConcurrency"]),
            # a stack deployed before the parameter existed ran its final job on one instance
            training_instance_count=int(parameters.get("TrainingInstanceCount", TRAINING_INSTANCE_COUNT)),
            # and its endpoint on one instance, before endpoints scaled
            endpoint_max_instances=int(parameters.get("EndpointMaxInstances", 1)),
        )


@dataclass(frozen=True)
class Need:
    """A quota a run needs at ``value`` or more, and why."""

    quota: Quota
    value: int
    why: str


def needs(config: StackConfig) -> list[Need]:
    """The quotas one run of this configuration needs, each with the least value that lets it through."""
    parallel = config.max_parallel_tuning_jobs * TRAINING_INSTANCE_COUNT
    final = config.training_instance_count
    kind = "spot " if config.use_spot else ""
    training = [
        Need(
            training_instances(config.tuning_instance_type, config.use_spot),
            parallel,
            f"MaxParallelTuningJobs={config.max_parallel_tuning_jobs} {kind}trial"
            f"{'s' if config.max_parallel_tuning_jobs > 1 else ''} at once",
        )
    ]
    if config.training_instance_type == config.tuning_instance_type:
        # the final job starts once the tuning job has ended: the larger of the two is enough
        training[0] = Need(training[0].quota, max(parallel, final), training[0].why + ", then the final job")
    else:
        training.append(
            Need(
                training_instances(config.training_instance_type, config.use_spot),
                final,
                f"the final {kind}job" + (f" ({final} instances)" if final > 1 else ""),
            )
        )
    found = [
        *training,
        Need(all_training_instances(config.use_spot), max(parallel, final), f"{parallel} {kind}training instances"),
        Need(TUNING_JOBS_AT_ONCE, 1, "one tuning job per run"),
        Need(
            PARALLEL_TRIALS, config.max_parallel_tuning_jobs, f"MaxParallelTuningJobs={config.max_parallel_tuning_jobs}"
        ),
        Need(TRIALS_PER_TUNING_JOB, config.max_tuning_jobs, f"MaxTuningJobs={config.max_tuning_jobs}"),
    ]
    if config.serverless:
        found += [
            Need(SERVERLESS_ENDPOINTS, 1, "the stack's serverless endpoint"),
            Need(
                SERVERLESS_CONCURRENCY,
                config.serverless_max_concurrency,
                f"ServerlessMaxConcurrency={config.serverless_max_concurrency}",
            ),
            Need(
                SERVERLESS_MEMORY, config.serverless_memory_mb, f"ServerlessMemorySizeMB={config.serverless_memory_mb}"
            ),
        ]
    else:
        found.append(
            Need(
                endpoint_instances(config.endpoint_instance_type),
                BLUE_GREEN_FLEETS * config.endpoint_max_instances,
                f"EndpointMaxInstances={config.endpoint_max_instances}, and a blue/green update starts as many "
                "beside them",
            )
        )
    return found


@dataclass(frozen=True)
class Reading:
    """A need against the account: ``value`` None when Service Quotas has no such quota for it."""

    need: Need
    value: float | None
    code: str | None  # as Service Quotas names it (or the table's)
    applied: bool  # an applied value; False: AWS's default, or not read

    @property
    def readable(self) -> bool:
        return self.value is not None

    @property
    def enough(self) -> bool:
        """Enough, or unreadable (a warning, never a refusal: SageMaker itself will say if it is too low)."""
        return self.value is None or self.value >= self.need.value


def _matches(listed: dict, quota: Quota) -> bool:
    if listed.get("Value") is None:  # an ErrorReason instead of a value
        return False
    return listed.get("QuotaCode") == quota.code if quota.code else listed.get("QuotaName") == quota.name


def _find(listed: list[dict], quota: Quota) -> dict | None:
    return next((entry for entry in listed if _matches(entry, quota)), None)


def read(service_quotas, wanted: list[Need]) -> list[Reading]:
    """Each need with the account's value: the applied value (ListServiceQuotas), else AWS's default
    (ListAWSDefaultServiceQuotas, asked only when some applied value is missing). ``service_quotas`` is a boto3
    Service Quotas client of the account and region the stack runs in."""
    pages = service_quotas.get_paginator("list_service_quotas").paginate(
        ServiceCode=SERVICE_CODE, PaginationConfig={"PageSize": 100}
    )
    applied = [quota for page in pages for quota in page.get("Quotas", [])]
    defaults: list[dict] = []
    if any(_find(applied, need.quota) is None for need in wanted):
        pages = service_quotas.get_paginator("list_aws_default_service_quotas").paginate(
            ServiceCode=SERVICE_CODE, PaginationConfig={"PageSize": 100}
        )
        defaults = [quota for page in pages for quota in page.get("Quotas", [])]
    readings = []
    for need in wanted:
        entry, is_applied = _find(applied, need.quota), True
        if entry is None:
            entry, is_applied = _find(defaults, need.quota), False
        if entry is None:
            readings.append(Reading(need, None, need.quota.code, False))
        else:
            readings.append(Reading(need, float(entry["Value"]), entry.get("QuotaCode") or need.quota.code, is_applied))
    return readings


def console_url(region: str, code: str | None) -> str:
    """The quota's page in the Service Quotas console (its increase form); the service's list without a code."""
    base = f"https://{region}.console.aws.amazon.com/servicequotas/home/services/{SERVICE_CODE}/quotas"
    return f"{base}/{code}" if code else base


def increase_command(region: str, code: str, value: int) -> str:
    return (
        f"aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} --quota-code {code} "
        f"--desired-value {value} --region {region}"
    )


def _number(value: float) -> str:
    return f"{value:g}"


def shortfall(reading: Reading, region: str) -> str:
    """One quota too low, in words: the quota, what the run needs and why, what the account has, how to ask."""
    need, code = reading.need, reading.code
    ask = console_url(region, code) + (f" or `{increase_command(region, code, need.value)}`" if code else "")
    return (
        f"'{need.quota.name}' ({code or 'code unknown'}) is {_number(reading.value)} in {region}; this stack needs "
        f"{need.value} ({need.why}). Request an increase: {ask}"
    )


def shortfalls(readings: list[Reading], region: str) -> list[str]:
    return [shortfall(reading, region) for reading in readings if not reading.enough]


def limit_exceeded_message(quota: Quota, limit: float, used: float, delta: float) -> str:
    """SageMaker's ResourceLimitExceeded message for a call that would take ``quota`` past ``limit``."""
    unit = quota.unit
    return (
        f"The account-level service limit '{quota.name}' is {_number(limit)} {unit}, with current utilization of "
        f"{_number(used)} {unit} and a request delta of {_number(delta)} {unit}. Please use AWS Service Quotas to "
        "request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request "
        "an increase for this quota."
    )
