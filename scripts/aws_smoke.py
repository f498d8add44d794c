"""`make aws-smoke`: the acceptance run on your own AWS account, start to finish, and nothing left behind.

`sam build` and `sam deploy` with samconfig.toml's [smoke] profile (small budgets), the digits dataset the demo
makes uploaded under the stack's UploadPrefix, the run followed state by state, one held-out digit POSTed to the
API, what it cost in instance-minutes (the jobs' BillableTimeInSeconds and TrainingTimeInSeconds, the endpoint's
lifetime), then the teardown, which runs whatever happened before it: the run stopped with its jobs, and waited
for until they have ended (a stopped job still uploads its model), the endpoint, the endpoint configurations and
models of the stack's SageMakerNamePrefix, the Experiments resources tuning made, the jobs' and the endpoint's
logs, every object version in the buckets the stack retains (found from its resources, or by CloudFormation's
tags when a failed deploy rolled it back), `sam delete`, those buckets, and the artifacts `sam deploy` uploaded
(under the stack's own --s3-prefix in SAM's managed bucket).

Only `sam deploy` and `sam delete` need AWS itself: everything else uses the AWS clients it is given, so
tests/twin/test_aws_smoke.py runs this same code against the local twin.
"""

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import requests

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"  # the pipeline's own naming and job stopping, imported as Lambda does (task root)
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

from common import naming  # noqa: E402
from common.run_jobs import described_status, stop_running_jobs  # noqa: E402
from dogbreeds_cli.cli import main as dogbreeds  # noqa: E402
from dogbreeds_cli.timeline import StateProgress, follow_execution  # noqa: E402
from local_twin import digits  # noqa: E402
from local_twin.samconfig import load_profile  # noqa: E402
from model_code import registry  # noqa: E402

PROFILE = "smoke"
FOLLOW_TIMEOUT_SECONDS = 3 * 3600  # a hang guard: the smoke profile's run takes well under an hour
PREDICT_ATTEMPTS = 10  # a serverless endpoint's first request may meet a cold start (503, Retry-After)
DELETE_TIMEOUT_SECONDS = 900
# StopTrainingJob gives the script 120 s (SIGTERM), then SageMaker uploads the model: Stopping lasts minutes
STOP_TIMEOUT_SECONDS = 900
POLL_SECONDS = 5
ENDED = ("Completed", "Failed", "Stopped")
# The account's log groups SageMaker writes a run's jobs to (one stream per job and instance, named
# <job>/algo-1-<time>), and the group it makes per endpoint
JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/ProcessingJobs")
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
# What SageMaker Experiments names after the jobs, unasked (Airflow's SageMaker system test, sagemaker-python-sdk)
TUNING_EXPERIMENT_SUFFIX = "-aws-tuning-job"
COMPONENT_SUFFIXES = {"training": "-aws-training-job", "processing": "-aws-processing-job"}


@dataclass(frozen=True)
class Deployment:
    """What the run needs from the deployed stack (its outputs and SageMakerNamePrefix)."""

    bucket: str
    upload_prefix: str  # a key prefix, e.g. "datasets/"
    api_url: str
    api_key: str
    state_machine_arn: str
    endpoint_name: str
    name_prefix: str


@dataclass(frozen=True)
class Clients:
    s3: object
    stepfunctions: object
    sagemaker: object
    cloudformation: object
    logs: object


@dataclass(frozen=True)
class Artifacts:
    """Where `sam deploy` uploaded the packaged code and template: everything under ``<prefix>/`` is the stack's."""

    bucket: str
    prefix: str


class Stack(Protocol):
    name: str

    def deploy(self) -> Deployment: ...

    def delete(self) -> None: ...

    def artifacts(self) -> Artifacts | None: ...


@dataclass
class Outcome:
    status: int = 0
    run_id: str | None = None
    failures: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- the run


def upload_digits(s3, deployment: Deployment, workdir: Path, name: str) -> tuple[str, list[digits.HeldOutImage]]:
    """Write the demo's digits zip and upload it; returns the run id its object version starts, and the held-out
    images."""
    held_out = digits.write_digits_dataset(workdir / "digits")
    zip_path = digits.zip_dataset(workdir / "digits", workdir / name)
    key = f"{deployment.upload_prefix}{name}"
    with zip_path.open("rb") as body:
        stored = s3.put_object(Bucket=deployment.bucket, Key=key, Body=body)
    # StartPipeline names the execution after bucket, key and version (common/naming.py)
    version = stored.get("VersionId") or stored["ETag"].strip('"')
    return naming.execution_name(deployment.bucket, key, version), held_out


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{run_id}"


def wait_for_execution(stepfunctions, arn: str, timeout: float = 300) -> None:
    """EventBridge delivers the upload within seconds to minutes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stepfunctions.describe_execution(executionArn=arn)
            return
        except stepfunctions.exceptions.ExecutionDoesNotExist:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the upload started no execution within {timeout:.0f} s ({arn})") from None
            time.sleep(2)


def post_image(api_url: str, api_key: str, image: Path, attempts: int = PREDICT_ATTEMPTS) -> dict:
    headers = {"Content-Type": "image/jpeg", "x-api-key": api_key}
    for attempt in range(1, attempts + 1):
        answer = requests.post(api_url, data=image.read_bytes(), headers=headers, timeout=60)
        if answer.status_code == 200:
            return answer.json()
        if answer.status_code not in (429, 503, 504) or attempt == attempts:
            break
        time.sleep(int(answer.headers.get("Retry-After", "10")))
    raise RuntimeError(f"POST {api_url} answered {answer.status_code}: {answer.text[:300]}")


# --------------------------------------------------------------------------------------------- what it cost


@dataclass(frozen=True)
class JobCost:
    name: str
    instance_type: str
    billable_seconds: int
    training_seconds: int


def training_jobs(sagemaker, prefix: str, run_id: str) -> list[str]:
    """The run's tuning trials and final training job (whether or not they were created)."""
    names = []
    tuning = naming.tuning_job_name(prefix, run_id)
    with contextlib.suppress(sagemaker.exceptions.ResourceNotFound):
        paginator = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
        for page in paginator.paginate(HyperParameterTuningJobName=tuning):
            names += [summary["TrainingJobName"] for summary in page["TrainingJobSummaries"]]
    return [*names, naming.training_job_name(prefix, run_id)]


def job_costs(sagemaker, prefix: str, run_id: str) -> list[JobCost]:
    """The run's tuning trials and final training job, as SageMaker bills them (jobs never created: none)."""
    costs = []
    for name in training_jobs(sagemaker, prefix, run_id):
        try:
            job = sagemaker.describe_training_job(TrainingJobName=name)
        except sagemaker.exceptions.ClientError:
            continue  # the final job was never started
        costs.append(
            JobCost(
                name,
                job["ResourceConfig"]["InstanceType"],
                job.get("BillableTimeInSeconds", 0),
                job.get("TrainingTimeInSeconds", 0),
            )
        )
    return costs


def cost_lines(jobs: list[JobCost], final_job: str, endpoint: str | None) -> list[str]:
    lines = ["what it cost, in instance-minutes (times each instance's price per minute):"]
    trials = [job for job in jobs if job.name != final_job]
    for label, group in (("tuning trials", trials), ("final training", [j for j in jobs if j.name == final_job])):
        for instance_type in sorted({job.instance_type for job in group}):
            same = [job for job in group if job.instance_type == instance_type]
            billable = sum(job.billable_seconds for job in same) / 60
            trained = sum(job.training_seconds for job in same) / 60
            lines.append(
                f"  {label:<15} {len(same)} x {instance_type}: {billable:.1f} billable ({trained:.1f} trained)"
            )
    lines.append(f"  {'endpoint':<15} {endpoint or 'none was created'}")
    return lines


def endpoint_line(described: dict, config: dict, deleted_at: datetime) -> str:
    minutes = (deleted_at - described["CreationTime"]).total_seconds() / 60
    variant = config["ProductionVariants"][0]
    if "ServerlessConfig" in variant:
        memory = variant["ServerlessConfig"]["MemorySizeInMB"]
        return f"serverless ({memory} MB): lived {minutes:.1f} minutes, billed per request duration only"
    return f"{variant['InitialInstanceCount']} x {variant['InstanceType']}: {minutes:.1f} instance-minutes"


# --------------------------------------------------------------------------------------------- teardown


def delete_endpoint(sagemaker, name: str) -> str | None:
    """Delete the endpoint and wait until it is gone; returns what it cost (None when there was none)."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=name)
    except sagemaker.exceptions.ClientError:
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    if described["EndpointStatus"] != "Deleting":
        sagemaker.delete_endpoint(EndpointName=name)
    deadline = time.monotonic() + DELETE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            sagemaker.describe_endpoint(EndpointName=name)
        except sagemaker.exceptions.ClientError:
            return endpoint_line(described, config, datetime.now(UTC))
        time.sleep(5)
    raise TimeoutError(f"endpoint {name} still exists {DELETE_TIMEOUT_SECONDS} s after DeleteEndpoint")


def delete_prefixed(sagemaker, prefix: str) -> list[str]:
    """The stack's endpoint configurations and models: every name the pipeline gave starts with the prefix."""
    deleted = []
    configs = sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=prefix)
    for name in [c["EndpointConfigName"] for page in configs for c in page["EndpointConfigs"]]:
        if name.startswith(f"{prefix}-"):
            sagemaker.delete_endpoint_config(EndpointConfigName=name)
            deleted.append(name)
    models = sagemaker.get_paginator("list_models").paginate(NameContains=prefix)
    for name in [m["ModelName"] for page in models for m in page["Models"]]:
        if name.startswith(f"{prefix}-"):
            sagemaker.delete_model(ModelName=name)
            deleted.append(name)
    return deleted


def wait_for_jobs_to_end(sagemaker, prefix: str, run_id: str, timeout: float = STOP_TIMEOUT_SECONDS) -> list[str]:
    """Until the run's tuning job and every training job are Completed, Failed or Stopped: StopTrainingJob returns
    while the job is Stopping, and a job uploads its model after that (emptied too early, the bucket fills again).
    Returns the training jobs' names."""
    deadline = time.monotonic() + timeout
    tuning = naming.tuning_job_name(prefix, run_id)
    while True:
        names = training_jobs(sagemaker, prefix, run_id)
        statuses = {tuning: described_status(sagemaker, "tuning", tuning)}
        statuses |= {name: described_status(sagemaker, "training", name) for name in names}
        running = {name: status for name, status in statuses.items() if status not in (*ENDED, None)}
        if not running:
            return [name for name in names if statuses[name] is not None]
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not ended {timeout:.0f} s after the stop: {running}")
        time.sleep(POLL_SECONDS)


def rule_jobs(sagemaker, training_job: str) -> list[str]:
    """The Debugger service's rule evaluations of a job (processing jobs; DebuggerService=true only)."""
    try:
        described = sagemaker.describe_training_job(TrainingJobName=training_job)
    except sagemaker.exceptions.ClientError:
        return []
    statuses = described.get("DebugRuleEvaluationStatuses", []) + described.get("ProfilerRuleEvaluationStatuses", [])
    return [s["RuleEvaluationJobArn"].rsplit("/", 1)[1] for s in statuses if s.get("RuleEvaluationJobArn")]


def _pages(sagemaker, operation: str, key: str, **filters) -> list[dict]:
    return [item for page in sagemaker.get_paginator(operation).paginate(**filters) for item in page[key]]


def delete_trial_component(sagemaker, name: str) -> bool:
    """Disassociated from every trial first, as DeleteTrialComponent requires; False when there is none."""
    try:
        sagemaker.describe_trial_component(TrialComponentName=name)
    except sagemaker.exceptions.ResourceNotFound:
        return False
    for trial in _pages(sagemaker, "list_trials", "TrialSummaries", TrialComponentName=name):
        sagemaker.disassociate_trial_component(TrialComponentName=name, TrialName=trial["TrialName"])
    sagemaker.delete_trial_component(TrialComponentName=name)
    return True


def delete_experiments(sagemaker, tuning_job: str, jobs: dict[str, list[str]]) -> list[str]:
    """What SageMaker Experiments made of the run, unasked: the tuning job's experiment with its trials and their
    trial components, and each job's own trial component (``jobs``: kind -> names). In AWS's documented order:
    components disassociated, then deleted; trials once empty; the experiment once it has no trial
    (https://docs.aws.amazon.com/sagemaker/latest/dg/experiments-cleanup.html). Returns what was deleted."""
    deleted = []
    experiment = f"{tuning_job}{TUNING_EXPERIMENT_SUFFIX}"
    try:
        trials = _pages(sagemaker, "list_trials", "TrialSummaries", ExperimentName=experiment)
    except sagemaker.exceptions.ResourceNotFound:
        trials = None  # the tuning job never started
    for trial in [t["TrialName"] for t in trials or []]:
        for component in _pages(sagemaker, "list_trial_components", "TrialComponentSummaries", TrialName=trial):
            if delete_trial_component(sagemaker, component["TrialComponentName"]):
                deleted.append(component["TrialComponentName"])
        sagemaker.delete_trial(TrialName=trial)
        deleted.append(trial)
    if trials is not None:
        sagemaker.delete_experiment(ExperimentName=experiment)
        deleted.append(experiment)
    for kind, names in jobs.items():
        for name in names:
            if delete_trial_component(sagemaker, f"{name}{COMPONENT_SUFFIXES[kind]}"):
                deleted.append(f"{name}{COMPONENT_SUFFIXES[kind]}")
    return deleted


def existing_log_groups(logs, names: tuple[str, ...]) -> set[str]:
    found = set()
    for name in names:
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        found |= {group["logGroupName"] for group in groups if group["logGroupName"] == name}
    return found


def delete_job_logs(logs, jobs: dict[str, list[str]], groups_before: set[str]) -> int:
    """The run's jobs' streams in the account's job log groups; a group the run created goes too once no stream is
    left in it. Returns how many streams were deleted."""
    deleted = 0
    for group, names in zip(JOB_LOG_GROUPS, (jobs["training"], jobs["processing"]), strict=True):
        try:
            for name in names:
                pages = logs.get_paginator("describe_log_streams").paginate(
                    logGroupName=group, logStreamNamePrefix=f"{name}/"
                )
                for stream in [stream for page in pages for stream in page["logStreams"]]:
                    logs.delete_log_stream(logGroupName=group, logStreamName=stream["logStreamName"])
                    deleted += 1
            left = logs.describe_log_streams(logGroupName=group, limit=1)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            continue  # no job of this kind ever logged
        if group not in groups_before and not left:
            logs.delete_log_group(logGroupName=group)
    return deleted


def delete_log_group(logs, name: str) -> bool:
    try:
        logs.delete_log_group(logGroupName=name)
    except logs.exceptions.ResourceNotFoundException:
        return False
    return True


def stack_buckets(cloudformation, s3, stack_name: str) -> set[str]:
    """The buckets the stack made, which outlive it (DeletionPolicy: Retain): from the stack's resources while it
    exists in any state (a failed deploy leaves it ROLLBACK_COMPLETE, a failed delete DELETE_FAILED), and by the
    tags CloudFormation puts on what it creates (aws:cloudformation:stack-name) for a stack already gone."""
    found = set()
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            found |= {
                resource["PhysicalResourceId"]
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::S3::Bucket" and resource.get("PhysicalResourceId")
            }
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" not in str(error):  # CloudFormation answers ValidationError for a missing stack
            raise
    # CloudFormation names a bucket without BucketName <stack>-<logical id>-<random>, lower case
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"].startswith(f"{stack_name.lower()}-") and bucket["Name"] not in found:
            try:
                tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
            except s3.exceptions.ClientError:
                continue  # untagged (NoSuchTagSet): not CloudFormation's
            if {"Key": "aws:cloudformation:stack-name", "Value": stack_name} in tags:
                found.add(bucket["Name"])
    return found


def delete_versions(s3, bucket: str, prefix: str = "") -> int:
    """Every object version and delete marker under ``prefix`` (buckets are versioned); returns how many."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        entries = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        entries += [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])]
        for start in range(0, len(entries), 1000):  # DeleteObjects takes 1,000 keys at most
            s3.delete_objects(Bucket=bucket, Delete={"Objects": entries[start : start + 1000], "Quiet": True})
        deleted += len(entries)
    return deleted


def delete_model_registry(sagemaker, group: str) -> int | None:
    """The stack's model package group and its versions (the stack retains the group: its history outlives it, but
    an acceptance run leaves nothing). Versions first: SageMaker refuses to delete a group that holds any. None when
    there is no group (a stack that never deployed)."""
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":  # "does not exist"
            return None
        raise
    versions = _pages(sagemaker, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=group,
                      ModelPackageType="Versioned")  # fmt: skip
    for version in versions:
        sagemaker.delete_model_package(ModelPackageName=version["ModelPackageArn"])
    sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    return len(versions)


def teardown(
    clients: Clients, stack: Stack, deployment: Deployment | None, outcome: Outcome, say, log_groups_before: set[str]
) -> None:
    """Each step is tried whatever failed before it; what could not be removed is said, and fails the run.
    ``log_groups_before``: the account's job log groups that existed before the run (kept, even emptied)."""

    @contextlib.contextmanager
    def step(what: str):
        try:
            yield
        except Exception as error:  # the next step must still run
            outcome.failures.append(f"{what}: {type(error).__name__}: {error}")
            say(f"  could not {what}: {error}")

    say("tearing down:")
    buckets = {deployment.bucket} if deployment is not None else set()
    with step("find the buckets the stack retains"):
        buckets |= stack_buckets(clients.cloudformation, clients.s3, stack.name)
    if deployment is not None:
        sagemaker, prefix = clients.sagemaker, deployment.name_prefix
        if outcome.run_id:
            arn = execution_arn(deployment.state_machine_arn, outcome.run_id)
            never_started = clients.stepfunctions.exceptions.ExecutionDoesNotExist
            with step("stop the run"), contextlib.suppress(never_started):
                if clients.stepfunctions.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    clients.stepfunctions.stop_execution(executionArn=arn, error="AcceptanceRunTeardown")
                    say(f"  stopped execution {outcome.run_id}")
            with step("stop the run's jobs"):
                stopped = stop_running_jobs(sagemaker, prefix, outcome.run_id)
                say(f"  stopped jobs: {', '.join(stopped) or 'none was running'}")
        endpoint = None
        with step("delete the endpoint"):
            endpoint = delete_endpoint(sagemaker, deployment.endpoint_name)
            say(f"  endpoint {deployment.endpoint_name}: {'deleted' if endpoint else 'none'}")
        with step("delete the endpoint configurations and models"):
            say(f"  deleted {len(delete_prefixed(sagemaker, prefix))} configurations and models")
        with step("delete the endpoint's log group"):
            deleted = delete_log_group(clients.logs, f"{ENDPOINT_LOG_GROUP_PREFIX}{deployment.endpoint_name}")
            say(f"  endpoint log group: {'deleted' if deleted else 'none'}")
        if outcome.run_id:
            jobs = None
            with step("wait for the run's jobs to end"):
                trained = wait_for_jobs_to_end(sagemaker, prefix, outcome.run_id)
                jobs = {"training": trained, "processing": [j for name in trained for j in rule_jobs(sagemaker, name)]}
                say(f"  {len(trained)} training jobs ended")
            with step("read the jobs' billing"):
                final_job = naming.training_job_name(prefix, outcome.run_id)
                for line in cost_lines(job_costs(sagemaker, prefix, outcome.run_id), final_job, endpoint):
                    say(line)
            if jobs is not None:  # what follows needs the jobs ended: they write both until then
                with step("delete the experiments and trial components tuning made"):
                    tuning = naming.tuning_job_name(prefix, outcome.run_id)
                    say(f"  deleted {len(delete_experiments(sagemaker, tuning, jobs))} experiments, trials and "
                        "trial components")  # fmt: skip
                with step("delete the jobs' logs"):
                    say(f"  deleted {delete_job_logs(clients.logs, jobs, log_groups_before)} job log streams")
            else:
                outcome.failures.append("the run's experiments and job logs: not deleted while its jobs may run")
    gone = clients.s3.exceptions.NoSuchBucket  # a bucket the stack's rollback did delete: nothing to do
    for bucket in sorted(buckets):
        with step(f"empty the bucket {bucket}"), contextlib.suppress(gone):
            say(f"  deleted {delete_versions(clients.s3, bucket)} object versions from {bucket}")
    with step("delete the stack"):
        stack.delete()
        say("  stack deleted")
    if deployment is not None:
        with step("delete the model registry's versions and group"):
            group = f"{deployment.name_prefix}-{registry.GROUP_SUFFIX}"
            count = delete_model_registry(clients.sagemaker, group)
            say(f"  model package group {group}: " + ("none" if count is None else f"deleted with {count} versions"))
    for bucket in sorted(buckets):
        with step(f"delete the bucket {bucket}"), contextlib.suppress(gone):
            clients.s3.delete_bucket(Bucket=bucket)  # retained by the stack: removed here
            say(f"  bucket {bucket} deleted")
    with step("delete the artifacts sam deploy uploaded"):
        artifacts = stack.artifacts()
        if artifacts is not None:  # `sam delete` removes only what the last template references
            count = delete_versions(clients.s3, artifacts.bucket, f"{artifacts.prefix}/")
            say(f"  deleted {count} artifact versions under s3://{artifacts.bucket}/{artifacts.prefix}/")
    if outcome.failures:
        outcome.status = 1
        say("LEFT BEHIND, remove by hand: " + "; ".join(outcome.failures))


def acceptance_run(
    stack: Stack,
    clients: Callable[[], Clients],
    workdir: Path,
    say: Callable[[str], None] = print,
    dataset_name: str = "digits.zip",
    follow_timeout: float = FOLLOW_TIMEOUT_SECONDS,
) -> int:
    """Deploy, run, predict, tear down; 0 when the run deployed a model that answered and nothing was left."""
    outcome = Outcome()
    deployment = None
    aws = clients()
    # the account's job log groups that exist already are not the run's to delete, even when emptied
    log_groups_before = existing_log_groups(aws.logs, JOB_LOG_GROUPS)
    try:
        say("deploying the stack ...")
        deployment = stack.deploy()
        outcome.run_id, held_out = upload_digits(aws.s3, deployment, workdir, dataset_name)
        say(f"uploaded s3://{deployment.bucket}/{deployment.upload_prefix}{dataset_name}; run {outcome.run_id}:")
        arn = execution_arn(deployment.state_machine_arn, outcome.run_id)
        wait_for_execution(aws.stepfunctions, arn)

        def report(progress: StateProgress) -> None:
            loops = f" ({progress.visits} visits)" if progress.visits > 1 else ""
            say(f"  {progress.name:<28} {progress.status:<10} {progress.ended:8.1f} s{loops}")

        execution = follow_execution(aws.stepfunctions, arn, report, timeout=follow_timeout, poll_seconds=5)
        if execution["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"the run ended {execution['status']}: {execution.get('error')}: {execution.get('cause')}"
            )
        sample = held_out[0]
        top = post_image(deployment.api_url, deployment.api_key, sample.path)["predictions"][0]
        verdict = "right" if sample.label in top["label"] else "wrong"
        say(f"POST {sample.path.name} (a {sample.label}): {top['label']} ({top['probability']:.3f}, {verdict})")
    except Exception as error:  # reported, then everything is torn down all the same
        outcome.status = 1
        say(f"FAILED: {type(error).__name__}: {error}")
    finally:
        teardown(aws, stack, deployment, outcome, say, log_groups_before)
    say("acceptance run passed" if outcome.status == 0 else "acceptance run FAILED")
    return outcome.status


# --------------------------------------------------------------------------------------------- on AWS


class SamStack:
    """`sam build` + `sam deploy` of the [smoke] profile, its outputs read back; `sam delete` at the end."""

    MANAGED_STACK = "aws-sam-cli-managed-default"  # resolve_s3's bucket: SAM CLI's bootstrap stack, never deleted

    def __init__(self, sam: str, region: str | None):
        self.sam, self.region = sam, region
        self.name = load_profile(ROOT / "samconfig.toml", PROFILE).stack_name

    def _sam(self, *arguments: str) -> None:
        region = ("--region", self.region) if self.region else ()
        subprocess.run([self.sam, *arguments, *region], cwd=ROOT, check=True)

    def deploy(self) -> Deployment:
        self._sam("build", "--config-env", PROFILE)
        # the stack's own prefix: `sam delete` removes only the artifacts the last template references
        self._sam("deploy", "--config-env", PROFILE, "--no-confirm-changeset", "--s3-prefix", self.name)
        import boto3

        stack = boto3.client("cloudformation", region_name=self.region).describe_stacks(StackName=self.name)
        described = stack["Stacks"][0]
        outputs = {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
        api_key = boto3.client("apigateway", region_name=self.region).get_api_key(
            apiKey=outputs["ApiKeyId"], includeValue=True
        )["value"]
        return Deployment(
            bucket=outputs["BucketName"],
            upload_prefix=outputs["UploadPrefix"].removeprefix(f"s3://{outputs['BucketName']}/"),
            api_url=outputs["ApiUrl"],
            api_key=api_key,
            state_machine_arn=outputs["StateMachineArn"],
            endpoint_name=outputs["EndpointName"],
            name_prefix=parameters["SageMakerNamePrefix"],
        )

    def delete(self) -> None:
        self._sam("delete", "--stack-name", self.name, "--no-prompts")

    def artifacts(self) -> Artifacts | None:
        """SAM's managed bucket (the SourceBucket output of its bootstrap stack) and this stack's prefix there."""
        import boto3

        cloudformation = boto3.client("cloudformation", region_name=self.region)
        try:
            managed = cloudformation.describe_stacks(StackName=self.MANAGED_STACK)["Stacks"][0]
        except cloudformation.exceptions.ClientError:
            return None  # never bootstrapped: nothing was uploaded
        outputs = {output["OutputKey"]: output["OutputValue"] for output in managed.get("Outputs", [])}
        return Artifacts(outputs["SourceBucket"], self.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make aws-smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", help="the AWS region (default: your AWS configuration's)")
    parser.add_argument("--sam", default="sam", help="the SAM CLI (make aws-smoke passes .venv-sam's)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".aws-smoke")
    args = parser.parse_args(argv)
    # `dogbreeds doctor` first, on the [smoke] profile: quotas, region, Debugger, before anything is deployed
    region = ["--region", args.region] if args.region else []
    if dogbreeds(["doctor", "--checkout", str(ROOT), "--config-env", PROFILE, *region]) != 0:
        return 1
    import boto3

    def clients() -> Clients:
        session = boto3.Session(region_name=args.region)
        services = ("s3", "stepfunctions", "sagemaker", "cloudformation", "logs")
        return Clients(*(session.client(service) for service in services))

    return acceptance_run(SamStack(args.sam, args.region), clients, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
