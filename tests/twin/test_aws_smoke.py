"""`make aws-smoke` (scripts/aws_smoke.py) run against the local twin: everything but `sam deploy`/`sam delete`.

The twin stands in for the deployed stack (its outputs, the API key, what `sam deploy` uploads) and for AWS's
clients; stand-in model code (tests/support/fake_model_code) keeps the jobs to seconds. Each run must leave
nothing behind: no endpoint, configuration, model, running job, bucket, experiment or trial component, no log
group or stream but the stack's own (which `sam delete` removes with the stack), no artifact under the stack's
prefix.
"""

import json

import pytest
import requests
from moto.s3.models import s3_backends

from local_twin.account import ACCOUNT_ID, PARTITION
from scripts import aws_smoke
from tests.support.pipeline_steps import plant_stand_in_model_code

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)
TEST_PARAMETERS = {"PollIntervalSeconds": "0", "CriticalRules": ""}  # as tests/twin/test_state_machine.py
MANAGED_BUCKET = "aws-sam-cli-managed-default-samclisourcebucket-twin"  # SAM CLI's resolve_s3 bucket, stood in
OTHER_STACKS_ARTIFACT = "another-stack/0123abcd"  # the managed bucket is shared: this must stay


class TwinStack:
    """The twin as a deployed stack: deploy() answers its outputs and uploads what `sam deploy` would (the packaged
    code under the stack's prefix, in a versioned managed bucket); delete() is recorded. With ``rolled_back``,
    deploy() fails as a `sam deploy` whose stack rolled back: CloudFormation (moto's) made and retained a data
    bucket, and an earlier failed attempt left another one behind, tagged as CloudFormation tags what it makes."""

    def __init__(self, twin, rolled_back: bool = False):
        self.twin, self.rolled_back, self.deleted = twin, rolled_back, False
        self.name = twin.template.stack_name
        self.left_by_earlier_attempt = f"{self.name}-databucket-earlier0attempt"

    def deploy(self) -> aws_smoke.Deployment:
        twin = self.twin
        s3 = twin.client("s3")
        s3.create_bucket(Bucket=MANAGED_BUCKET)
        s3.put_bucket_versioning(Bucket=MANAGED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for key in (f"{self.name}/5f3c0e1d2b", f"{self.name}/5f3c0e1d2b.template", OTHER_STACKS_ARTIFACT):
            s3.put_object(Bucket=MANAGED_BUCKET, Key=key, Body=b"packaged")
        s3.put_object(Bucket=MANAGED_BUCKET, Key=f"{self.name}/5f3c0e1d2b", Body=b"packaged again")  # 2 versions
        if self.rolled_back:
            self._fail_as_a_rolled_back_deploy()
        return aws_smoke.Deployment(
            bucket=twin.aws.bucket,
            upload_prefix=twin.upload_prefix,
            api_url=f"{twin.api.url}{twin.template.api().routes[0].path}",
            api_key=twin.api.api_key,
            state_machine_arn=twin.aws.state_machine_arn,
            endpoint_name=twin.template.functions()["DeployFunction"].environment["ENDPOINT_NAME"],
            name_prefix=twin.template.parameters["SageMakerNamePrefix"],
        )

    def _fail_as_a_rolled_back_deploy(self):
        s3, cloudformation = self.twin.client("s3"), self.twin.client("cloudformation")
        retained = {"Resources": {"DataBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"}}}
        cloudformation.create_stack(StackName=self.name, TemplateBody=json.dumps(retained))
        (bucket,) = cloudformation.list_stack_resources(StackName=self.name)["StackResourceSummaries"]
        s3.put_object(Bucket=bucket["PhysicalResourceId"], Key="datasets/partial.zip", Body=b"PK")
        s3.create_bucket(Bucket=self.left_by_earlier_attempt)
        # the tags CloudFormation puts on what it makes (moto's CloudFormation puts none, and no requester may put
        # aws: tags: set in moto's backend, in this process)
        tags = {"aws:cloudformation:stack-name": self.name, "aws:cloudformation:logical-id": "DataBucket"}
        s3_backends[ACCOUNT_ID][PARTITION].put_bucket_tagging(self.left_by_earlier_attempt, tags)
        raise RuntimeError(f"sam deploy: stack {self.name} is ROLLBACK_COMPLETE")

    def delete(self) -> None:
        self.deleted = True
        cloudformation = self.twin.client("cloudformation")
        if cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]:
            cloudformation.delete_stack(StackName=self.name)  # its DeletionPolicy keeps the bucket, as on AWS

    def artifacts(self) -> aws_smoke.Artifacts:
        return aws_smoke.Artifacts(MANAGED_BUCKET, self.name)


@pytest.fixture
def twin(tmp_path):
    """A fresh twin per run: the acceptance run deletes the bucket."""
    from common import sourcedir
    from local_twin.twin import Twin

    with Twin(workdir=tmp_path / "twin", parameters=TEST_PARAMETERS) as running:
        plant_stand_in_model_code(running, sourcedir)
        yield running
        # moto's state lives in this process: the next twin must start from nothing
        requests.post(f"{running.moto.url}/moto-api/reset", timeout=10).raise_for_status()


def clients_of(twin):
    services = ("s3", "stepfunctions", "sagemaker", "cloudformation", "logs")
    return lambda: aws_smoke.Clients(*(twin.client(service) for service in services))


def left_behind(twin, stack: TwinStack) -> dict:
    prefix = twin.template.parameters["SageMakerNamePrefix"]
    sagemaker, s3, logs = twin.client("sagemaker"), twin.client("s3"), twin.client("logs")
    configs = sagemaker.list_endpoint_configs(NameContains=prefix)["EndpointConfigs"]
    running = [job for job in twin.sagemaker.training.jobs.values() if job.status in ("InProgress", "Stopping")]
    buckets = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    groups = {group["logGroupName"]: group for group in logs.describe_log_groups()["logGroups"]}
    artifacts = s3.list_object_versions(Bucket=MANAGED_BUCKET, Prefix=f"{stack.name}/")
    return {
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
        "configs": [c["EndpointConfigName"] for c in configs],
        "models": [m["ModelName"] for m in sagemaker.list_models(NameContains=prefix)["Models"]],
        "running jobs": [job.name for job in running],
        "buckets": sorted(buckets - {MANAGED_BUCKET}),
        "experiments": [e["ExperimentName"] for e in sagemaker.list_experiments()["ExperimentSummaries"]],
        "trial components": [
            c["TrialComponentName"] for c in sagemaker.list_trial_components()["TrialComponentSummaries"]
        ],
        # the stack's own groups go with the stack; nothing else may remain
        "log groups": sorted(set(groups) - set(twin.template.log_groups())),
        "artifacts": [v["Key"] for v in artifacts.get("Versions", []) + artifacts.get("DeleteMarkers", [])],
    }


NOTHING = {
    "endpoints": [], "configs": [], "models": [], "running jobs": [], "buckets": [], "experiments": [],
    "trial components": [], "log groups": [], "artifacts": [],
}  # fmt: skip


def test_the_acceptance_run_deploys_predicts_reports_cost_and_leaves_nothing(twin, tmp_path):
    lines = []
    stack = TwinStack(twin)
    status = aws_smoke.acceptance_run(stack, clients_of(twin), tmp_path / "smoke", lines.append)
    output = "\n".join(lines)
    assert status == 0, output
    assert "Deployed" in output and "POST digit_" in output, output
    # the billing lines: two trials and the final job trained, the instance endpoint lived
    trials = next(line for line in lines if "tuning trials" in line)
    assert "2 x ml.m5.large" in trials and "billable" in trials, output
    assert any("final training" in line and "1 x ml.m5.large" in line for line in lines), output
    assert any("1 x ml.m5.large:" in line and "instance-minutes" in line for line in lines), output
    # what the run made besides the stack, found and deleted: 2 trials' experiment, 3 job log streams, ...
    assert "  deleted 6 experiments, trials and trial components" in lines, output  # 2 x (trial + component),
    # the tuning experiment, the final job's component
    assert "  deleted 3 job log streams" in lines and "  endpoint log group: deleted" in lines, output
    assert f"  deleted 3 artifact versions under s3://{MANAGED_BUCKET}/{stack.name}/" in lines, output
    assert stack.deleted
    assert left_behind(twin, stack) == NOTHING
    assert [denied.message for denied in twin.moto.denials] == []  # the jobs' and endpoint's logs were theirs to write
    # the shared managed bucket keeps other stacks' artifacts; the stack's own log groups all expire
    assert twin.client("s3").head_object(Bucket=MANAGED_BUCKET, Key=OTHER_STACKS_ARTIFACT)
    stack_groups = twin.client("logs").describe_log_groups()["logGroups"]
    assert {group["logGroupName"] for group in stack_groups} == set(twin.template.log_groups())
    assert all(group.get("retentionInDays") for group in stack_groups), stack_groups


def test_a_failed_run_is_torn_down_all_the_same(twin, tmp_path):
    """The run outlives its follow timeout while the final job trains: the run and the job are stopped, and
    everything is deleted anyway; the smoke run fails. The job stays Stopping for a while after StopTrainingJob
    returns (its model is uploaded only then): the teardown waits for it before it empties the bucket, or the
    late upload would fill the bucket again (BucketNotEmpty), or the job be left Stopping."""
    lines = []
    stack = TwinStack(twin)
    twin.faults.stopping_describes = 3
    status = aws_smoke.acceptance_run(
        stack, clients_of(twin), tmp_path / "smoke", lines.append, dataset_name="slow-training.zip", follow_timeout=30
    )
    output = "\n".join(lines)
    assert status == 1 and "FAILED: TimeoutError" in output, output
    assert "LEFT BEHIND" not in output, output
    assert any(line.startswith("  stopped execution") for line in lines), output
    assert any("stopped jobs:" in line and "-train" in line for line in lines), output
    assert stack.deleted
    final_jobs = [j for j in twin.sagemaker.training.jobs.values() if j.name.endswith("-train")]
    assert [job.status for job in final_jobs] == ["Stopped"]  # not waited for here: the teardown did
    assert left_behind(twin, stack) == NOTHING


def test_a_failed_deploy_leaves_no_retained_bucket(twin, tmp_path):
    """`sam deploy` fails after CloudFormation made the data bucket (DeletionPolicy: Retain survives the rollback):
    the teardown finds it among the stack's resources, and one an earlier attempt left by CloudFormation's tags."""
    lines = []
    stack = TwinStack(twin, rolled_back=True)
    status = aws_smoke.acceptance_run(stack, clients_of(twin), tmp_path / "smoke", lines.append)
    output = "\n".join(lines)
    assert status == 1 and "FAILED: RuntimeError: sam deploy: stack twin is ROLLBACK_COMPLETE" in output, output
    assert "LEFT BEHIND" not in output, output
    assert stack.deleted
    buckets = [bucket["Name"] for bucket in twin.client("s3").list_buckets()["Buckets"]]
    assert [name for name in buckets if name.startswith(f"{stack.name}-databucket-")] == [], output
    assert any(f"bucket {stack.left_by_earlier_attempt} deleted" in line for line in lines), output
    artifacts = twin.client("s3").list_object_versions(Bucket=MANAGED_BUCKET, Prefix=f"{stack.name}/")
    assert "Versions" not in artifacts and "DeleteMarkers" not in artifacts


def test_what_cannot_be_removed_is_listed_and_fails_the_command(twin, tmp_path):
    """Something writes to a retained bucket after the teardown emptied it: that bucket is named, and the command
    fails."""
    lines = []
    stack = TwinStack(twin, rolled_back=True)
    delete = stack.delete

    def delete_while_something_writes():
        (bucket,) = twin.client("cloudformation").list_stack_resources(StackName=stack.name)["StackResourceSummaries"]
        twin.client("s3").put_object(Bucket=bucket["PhysicalResourceId"], Key="jobs/late/model.tar.gz", Body=b"late")
        delete()

    stack.delete = delete_while_something_writes
    status = aws_smoke.acceptance_run(stack, clients_of(twin), tmp_path / "smoke", lines.append)
    output = "\n".join(lines)
    assert status == 1, output
    left = output.split("LEFT BEHIND, remove by hand: ", 1)[1]
    assert left.startswith(f"delete the bucket {stack.name}-databucket-") and "BucketNotEmpty" in left, output
