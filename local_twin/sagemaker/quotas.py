"""The modelled account's SageMaker quotas: what Service Quotas lists for service code ``sagemaker`` (the local
SageMaker answers ListServiceQuotas and ListAWSDefaultServiceQuotas), and the values its own
CreateTrainingJob, CreateHyperParameterTuningJob, CreateEndpoint and UpdateEndpoint enforce with
ResourceLimitExceeded, in SageMaker's words. The quotas and the message come from model_code/quotas.py, the
table the pipeline's CheckQuotas step and `dogbreeds doctor` read with.

Two presets (``Twin(account=...)``, ``python -m local_twin up --account``):
- ``default``: no applied values, every quota at the twin's defaults, enough for `make demo` and the tests'
  runs (the per-instance defaults are the twin's choice: AWS publishes none that hold for every account);
- ``new-account``: applied values as users of new accounts report them (aws/amazon-sagemaker-examples#593,
  repost.aws): 0 for every per-instance-type training, spot training and endpoint quota but
  ``ml.t2.medium for endpoint usage`` (2), serverless total concurrency 10, 5 serverless endpoints.

As on AWS, ListServiceQuotas lists only the quotas with an applied value and ListAWSDefaultServiceQuotas the
defaults. The serverless memory quota is enforced but listed by neither (its code is unknown: no listing of
AWS's shows it). Per-instance-type quota codes differ by type on AWS; the twin makes its own from the name.
"""

import hashlib
from collections.abc import Iterable

from local_twin.sagemaker.errors import SageMakerError
from model_code import quotas as facts

SERVICE_NAME = "Amazon SageMaker"
PER_INSTANCE_USAGES = ("training job usage", "spot training job usage", "endpoint usage")
DEFAULT_PER_INSTANCE = {"training job usage": 20, "spot training job usage": 20, "endpoint usage": 10}
DEFAULTS = {
    facts.TRAINING_INSTANCES: 40,
    facts.SPOT_TRAINING_INSTANCES: 40,
    facts.TUNING_JOBS_AT_ONCE: 100,
    facts.PARALLEL_TRIALS: 10,  # the developer guide's "10 ... can be raised to 100"
    facts.TRIALS_PER_TUNING_JOB: 500,
    facts.SERVERLESS_CONCURRENCY: 200,
    facts.SERVERLESS_ENDPOINTS: 50,
}
UNLISTED_LIMITS = {facts.SERVERLESS_MEMORY: 6144}  # enforced by SageMaker, absent from Service Quotas' listings
PRESETS = ("default", "new-account")


def _usage(quota: facts.Quota) -> str | None:
    """``training job usage`` of ``ml.m5.large for training job usage``; None for the fixed quotas."""
    return next((usage for usage in PER_INSTANCE_USAGES if quota.name.endswith(f" for {usage}")), None)


def code_of(quota: facts.Quota) -> str:
    """AWS's code for the fixed quotas; a made-up one of the same shape for the per-instance-type ones."""
    return quota.code or f"L-{hashlib.sha256(quota.name.encode()).hexdigest()[:8].upper()}"


class AccountQuotas:
    """The account's quota values; ``instance_types`` are the types whose per-type quotas the listings show."""

    def __init__(self, instance_types: Iterable[str] = (), applied: dict[str, float] | None = None):
        self.instance_types = sorted(set(instance_types))
        self.applied: dict[str, float] = dict(applied or {})  # quota name -> applied value

    @classmethod
    def preset(cls, name: str, instance_types: Iterable[str] = ()) -> "AccountQuotas":
        if name not in PRESETS:
            raise ValueError(f"unknown account preset {name!r}: one of {', '.join(PRESETS)}")
        account = cls(instance_types)
        if name == "new-account":
            for quota in account.per_instance_quotas():
                account.applied[quota.name] = 0
            account.applied[facts.endpoint_instances("ml.t2.medium").name] = 2
            account.applied[facts.SERVERLESS_CONCURRENCY.name] = 10
            account.applied[facts.SERVERLESS_ENDPOINTS.name] = 5
        return account

    def per_instance_quotas(self) -> list[facts.Quota]:
        return [
            facts.Quota(f"{instance_type} for {usage}")
            for instance_type in sorted({*self.instance_types, "ml.t2.medium"})
            for usage in PER_INSTANCE_USAGES
        ]

    def set(self, quota: facts.Quota, value: float) -> None:
        """Apply a value (a granted increase, or a test's small account)."""
        self.applied[quota.name] = value

    def default(self, quota: facts.Quota) -> float:
        usage = _usage(quota)
        if usage is not None:
            return DEFAULT_PER_INSTANCE[usage]
        if quota in UNLISTED_LIMITS:
            return UNLISTED_LIMITS[quota]
        return DEFAULTS[quota]

    def value(self, quota: facts.Quota) -> float:
        """What SageMaker enforces: the applied value, else the default."""
        return self.applied.get(quota.name, self.default(quota))

    # ------------------------------------------------------------------ Service Quotas

    def _listed(self) -> list[facts.Quota]:
        return [*DEFAULTS, *self.per_instance_quotas()]

    def _shape(self, quota: facts.Quota, value: float, region: str, account: str) -> dict:
        """A ServiceQuota as the API answers it (a default's ARN has no account)."""
        code = code_of(quota)
        return {
            "ServiceCode": facts.SERVICE_CODE,
            "ServiceName": SERVICE_NAME,
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:{facts.SERVICE_CODE}/{code}",
            "QuotaCode": code,
            "QuotaName": quota.name,
            "Value": float(value),
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }

    def applied_quotas(self, region: str, account: str) -> list[dict]:
        return [
            self._shape(quota, self.applied[quota.name], region, account)
            for quota in self._listed()
            if quota.name in self.applied
        ]

    def default_quotas(self, region: str) -> list[dict]:
        return [self._shape(quota, self.default(quota), region, "") for quota in self._listed()]


# ---------------------------------------------------------------------- what SageMaker enforces


def _check(account: AccountQuotas, quota: facts.Quota, used: float, delta: float) -> None:
    limit = account.value(quota)
    if used + delta > limit:
        raise SageMakerError("ResourceLimitExceeded", facts.limit_exceeded_message(quota, limit, used, delta))


class TrainingCapacity:
    """The training instances held now, against the account's training quotas: the training jobs and the tuning jobs
    are checked and held through it, so that neither part reads the other's jobs to count them."""

    def __init__(self, account: AccountQuotas):
        self.account = account
        self._holders: list = []  # the jobs (with .status and .request) held while they are InProgress

    def check_training_job(self, request: dict) -> None:
        """CreateTrainingJob: its instances against the type's (spot) training quota and the account-wide one."""
        self._check(*_held_by(request))

    def check_tuning_job(self, request: dict, tuning_jobs_running: int) -> None:
        """CreateHyperParameterTuningJob: the parallel trials' instances against the training quotas (as SageMaker
        checks at creation), then the tuning quotas (``tuning_jobs_running``: the account's, this one aside)."""
        self._check(*_held_by(request))
        limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
        _check(self.account, facts.TUNING_JOBS_AT_ONCE, tuning_jobs_running, 1)
        _check(self.account, facts.PARALLEL_TRIALS, 0, limits["MaxParallelTrainingJobs"])
        _check(self.account, facts.TRIALS_PER_TUNING_JOB, 0, limits["MaxNumberOfTrainingJobs"])

    def hold(self, job) -> None:
        """A created training job or tuning job (not a tuning job's trial): it holds its instances while it runs."""
        self._holders.append(job)

    def _check(self, definition: dict, delta: int) -> None:
        instance_type = definition["ResourceConfig"].get("InstanceType")
        spot = bool(definition.get("EnableManagedSpotTraining"))
        held = [
            (held_definition["ResourceConfig"].get("InstanceType"), count)
            for held_definition, count in (_held_by(job.request) for job in self._holders if job.status == "InProgress")
            if bool(held_definition.get("EnableManagedSpotTraining")) == spot
        ]
        if instance_type:
            used = sum(count for held_type, count in held if held_type == instance_type)
            _check(self.account, facts.training_instances(instance_type, spot), used, delta)
        _check(self.account, facts.all_training_instances(spot), sum(count for _, count in held), delta)


def _held_by(request: dict) -> tuple[dict, int]:
    """The training definition a job holds instances of, and how many: a training job its own; a tuning job
    MaxParallelTrainingJobs x its trials' (what its creation is checked against; its trials are not counted again)."""
    definition = request.get("TrainingJobDefinition")
    if definition is None:
        return request, request["ResourceConfig"].get("InstanceCount", 1)
    parallel = request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"]
    return definition, parallel * definition["ResourceConfig"].get("InstanceCount", 1)


def check_endpoint(
    account: AccountQuotas, fleets: dict[str, list[dict]], endpoint_name: str, variant: dict, update: bool
) -> None:
    """CreateEndpoint or UpdateEndpoint of ``endpoint_name`` to a configuration whose variant is ``variant``, beside
    ``fleets`` (per endpoint, the variants it holds now): an instance variant's instances beside every fleet held
    (an update's old fleet included), or a serverless variant's endpoint count, total concurrency and memory."""
    serverless = variant.get("ServerlessConfig")
    if serverless is None:
        instance_type = variant["InstanceType"]
        same_type = [held for fleet in fleets.values() for held in fleet if held.get("InstanceType") == instance_type]
        used = sum(held.get("InitialInstanceCount", 1) for held in same_type)
        _check(account, facts.endpoint_instances(instance_type), used, variant.get("InitialInstanceCount", 1))
        return
    serverless_fleets = [
        [held["ServerlessConfig"] for held in fleet if "ServerlessConfig" in held]
        for name, fleet in fleets.items()
        if name != endpoint_name
    ]
    others = [fleet for fleet in serverless_fleets if fleet]  # the other serverless endpoints
    if not update:
        _check(account, facts.SERVERLESS_ENDPOINTS, len(others), 1)
    concurrency = sum(held["MaxConcurrency"] for fleet in others for held in fleet)
    _check(account, facts.SERVERLESS_CONCURRENCY, concurrency, serverless["MaxConcurrency"])
    _check(account, facts.SERVERLESS_MEMORY, 0, serverless["MemorySizeInMB"])
