"""IAM as the local SageMaker enforces it when it holds sessions (as in the twin): the trust policy of each
role it assumes, evaluated with the keys that kind of caller sends; the endpoint's own role reading the
auto-rollback alarms; calls that name no resource allowed on ``*`` only."""

import json
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from local_twin.account import ACCOUNT_ID
from local_twin.moto_stack import client, session_environment
from local_twin.sagemaker import LocalSageMaker
from tests.support.local_sagemaker import BUCKET, training_request, tuning_request

pytestmark = pytest.mark.enable_socket  # a local SageMaker on loopback, its jobs' S3 on a moto server

SAGEMAKER = "sagemaker.amazonaws.com"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:errors"
ROLLBACK = {"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}
RANGES = {"CategoricalParameterRanges": [{"Name": "batch-size", "Values": ["8"]}]}
# the trust condition template.yaml had: no caller of SageMaker's that sends no aws:SourceAccount can assume it
SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


@pytest.fixture(scope="module")
def sagemaker(moto_url, tmp_path_factory):
    """A local SageMaker whose jobs and endpoints hold sessions of their roles (moto's STS), as in the twin."""

    def assume(role_arn: str, name: str) -> dict[str, str]:
        answer = client("sts", moto_url, "us-east-1").assume_role(RoleArn=role_arn, RoleSessionName=name[:64])
        return session_environment(answer["Credentials"])

    service = LocalSageMaker(tmp_path_factory.mktemp("sagemaker-iam"), moto_url, assume=assume)
    service.start()
    yield service
    service.stop()


def role(moto_url: str, *statements, trust_condition: dict | None = None) -> str:
    """A new role SageMaker may assume (under ``trust_condition``), with these statements; its ARN."""
    trust = {"Effect": "Allow", "Principal": {"Service": SAGEMAKER}, "Action": "sts:AssumeRole"}
    trust |= {"Condition": trust_condition} if trust_condition else {}
    name = f"role-{uuid.uuid4().hex[:8]}"
    iam = client("iam", moto_url, "us-east-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Statement": [trust]}))["Role"]["Arn"]
    if statements:
        document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
    return arn


def caller(service: LocalSageMaker, moto_url: str, *statements):
    """A SageMaker client signed with a session of a new role holding these statements."""
    sts = client("sts", moto_url, "us-east-1")
    answer = sts.assume_role(RoleArn=role(moto_url, *statements), RoleSessionName="caller")
    credentials = session_environment(answer["Credentials"])
    return boto3.client(
        "sagemaker", endpoint_url=service.url, region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"], aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )  # fmt: skip


def admin(service: LocalSageMaker):
    return client("sagemaker", service.url, "us-east-1")


def error_of(call) -> dict:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]


@pytest.mark.slow
def test_a_trust_condition_on_the_source_account_lets_training_jobs_in_and_keeps_tuning_jobs_out(sagemaker, moto_url):
    conditioned = role(moto_url, trust_condition=SOURCE_ACCOUNT)
    training = training_request("iam-train-conditioned", epochs=1) | {"RoleArn": conditioned}
    admin(sagemaker).create_training_job(**training)  # a training job sends aws:SourceAccount and aws:SourceArn
    job = sagemaker.training.wait("iam-train-conditioned", timeout=180)
    assert job.status == "Completed", job.failure_reason  # its session was made with the same keys

    tuning = tuning_request("iam-hpo-conditioned", "Random", {"MaxNumberOfTrainingJobs": 1,
                                                               "MaxParallelTrainingJobs": 1}, RANGES)  # fmt: skip
    tuning["TrainingJobDefinition"]["RoleArn"] = conditioned
    error = error_of(lambda: admin(sagemaker).create_hyper_parameter_tuning_job(**tuning))
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"Could not assume role {conditioned}. Please ensure that the role exists and allows principal "
        "'sagemaker.amazonaws.com' to assume the role."
    )
    denied = list(sagemaker.denials)[-1]
    assert (denied.principal, denied.action, denied.resource) == (SAGEMAKER, "sts:AssumeRole", conditioned)
    assert (
        denied.message == f"User: {SAGEMAKER} is not authorized to perform: sts:AssumeRole on resource: {conditioned}"
    )
    assert "iam-hpo-conditioned" not in sagemaker.tuning.jobs

    # a negated operator holds on the key a tuning job does not send
    elsewhere = role(moto_url, trust_condition={"StringNotEquals": {"aws:SourceAccount": "000000000000"}})
    tuning["HyperParameterTuningJobName"] = "iam-hpo-negated"
    tuning["TrainingJobDefinition"]["RoleArn"] = elsewhere
    admin(sagemaker).create_hyper_parameter_tuning_job(**tuning)
    deadline = time.monotonic() + 180
    while sagemaker.tuning.get("iam-hpo-negated").status == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.2)
    described = admin(sagemaker).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="iam-hpo-negated")
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")


def test_a_trial_that_cannot_assume_its_role_fails_as_sagemaker_reports_it(sagemaker, moto_url):
    """The path a tuning job's trial takes (TrainingJobs.create with its tuning job): no source keys."""
    conditioned = role(moto_url, trust_condition=SOURCE_ACCOUNT)
    request = training_request("iam-trial-conditioned", epochs=1) | {"RoleArn": conditioned}
    sagemaker.training.create(request, tuning_job="iam-some-tuning-job")
    job = sagemaker.training.wait("iam-trial-conditioned", timeout=60)
    assert job.status == "Failed"
    assert job.failure_reason == f"ClientError: SageMaker was unable to assume the role '{conditioned}'"
    denied = list(sagemaker.denials)[-1]
    assert (denied.action, denied.resource) == ("sts:AssumeRole", conditioned)


def test_the_endpoints_own_role_and_the_caller_must_read_its_rollback_alarms(sagemaker, moto_url):
    s3 = client("s3", moto_url, "us-east-1")
    s3.put_object(Bucket=BUCKET, Key="models/iam/model.tar.gz", Body=b"not a model")
    blind = role(moto_url)
    reading = role(moto_url, {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": ALARM})
    deploying = ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
                 "sagemaker:UpdateEndpoint", "iam:PassRole"]  # fmt: skip
    deployer = caller(sagemaker, moto_url, {"Effect": "Allow", "Resource": "*", "Action": deploying},
                      {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": ALARM})  # fmt: skip
    for name, execution_role in (("iam-blind", blind), ("iam-reading", reading)):
        deployer.create_model(ModelName=name, ExecutionRoleArn=execution_role, PrimaryContainer={
            "Image": "inference", "ModelDataUrl": f"s3://{BUCKET}/models/iam/model.tar.gz"})  # fmt: skip
        deployer.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1}])  # fmt: skip

    error = error_of(lambda: deployer.create_endpoint(EndpointName="iam-endpoint", EndpointConfigName="iam-blind",
                                                      DeploymentConfig=ROLLBACK))  # fmt: skip
    assert error["Code"] == "ValidationException"
    assert (
        f"The execution role {blind} of endpoint iam-endpoint cannot read its auto-rollback alarms" in error["Message"]
    )
    denied = list(sagemaker.denials)[-1]
    assert (denied.action, denied.resource) == ("cloudwatch:DescribeAlarms", ALARM)
    assert denied.principal.endswith(f"assumed-role/{blind.rsplit('/', 1)[1]}/SageMaker-iam-endpoint")
    assert "iam-endpoint" not in sagemaker.endpoints.endpoints

    # a caller that may not read the alarms is refused as well (AWS does not say it asks: the twin does, see
    # authorization.py), even with an endpoint role that may
    blind_deployer = caller(sagemaker, moto_url, {"Effect": "Allow", "Resource": "*", "Action": deploying})
    error = error_of(lambda: blind_deployer.create_endpoint(
        EndpointName="iam-endpoint", EndpointConfigName="iam-reading", DeploymentConfig=ROLLBACK))  # fmt: skip
    assert error["Code"] == "AccessDeniedException" and "cloudwatch:DescribeAlarms" in error["Message"]
    deployer.create_endpoint(EndpointName="iam-endpoint", EndpointConfigName="iam-reading", DeploymentConfig=ROLLBACK)
    error = error_of(lambda: deployer.update_endpoint(EndpointName="iam-endpoint", EndpointConfigName="iam-blind",
                                                      DeploymentConfig=ROLLBACK))  # fmt: skip
    assert error["Code"] == "ValidationException" and "auto-rollback alarms" in error["Message"]
    # without alarms there is nothing to read
    deployer.create_endpoint(EndpointName="iam-no-alarms", EndpointConfigName="iam-blind")


def test_calls_that_name_no_resource_are_allowed_on_star_only(sagemaker, moto_url):
    nameless = [f"sagemaker:{operation}" for operation in ("ListTrainingJobs", "ListHyperParameterTuningJobs",
                "ListEndpoints", "ListModels", "Search", "ListTrainingJobsForHyperParameterTuningJob")]  # fmt: skip
    scoped = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": nameless,
                                          "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:*"})  # fmt: skip
    for call, action in (
        (scoped.list_training_jobs, "sagemaker:ListTrainingJobs"),
        (scoped.list_hyper_parameter_tuning_jobs, "sagemaker:ListHyperParameterTuningJobs"),
        (scoped.list_endpoints, "sagemaker:ListEndpoints"),
        (scoped.list_models, "sagemaker:ListModels"),
        (lambda: scoped.search(Resource="TrainingJob"), "sagemaker:Search"),
    ):
        error = error_of(call)
        assert error["Code"] == "AccessDeniedException"
        assert f"not authorized to perform: {action} on resource: * because" in error["Message"]
    # a List call that names its tuning job is scoped to the job's ARN
    trials = lambda c: c.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="none")  # noqa: E731
    assert error_of(lambda: trials(scoped))["Code"] == "ResourceNotFound"

    anywhere = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": nameless, "Resource": "*"})
    assert "TrainingJobSummaries" in anywhere.list_training_jobs()
    assert "HyperParameterTuningJobSummaries" in anywhere.list_hyper_parameter_tuning_jobs()
    assert "Endpoints" in anywhere.list_endpoints() and "Models" in anywhere.list_models()
    error = error_of(lambda: anywhere.search(Resource="TrainingJob"))  # authorized; the twin has no Search
    assert error["Code"] == "UnknownOperationException"


def test_the_model_registry_is_authorized_on_the_group_and_version_arns(sagemaker, moto_url):
    group = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model-package-group/iam-models"
    versions = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model-package/iam-models/*"
    version_1 = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model-package/iam-models/1"
    admin(sagemaker).create_model_package_group(ModelPackageGroupName="iam-models")
    container = {"Containers": [{"Image": "inference", "ModelDataUrl": f"s3://{BUCKET}/models/m.tar.gz"}]}
    register = lambda c, **extra: c.create_model_package(  # noqa: E731
        ModelPackageGroupName="iam-models", InferenceSpecification=container, **extra
    )["ModelPackageArn"]

    # CreateModelPackage is asked on the group and on the version it creates (which AWS uses is not documented)
    on_group = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:CreateModelPackage",
                                            "Resource": group})  # fmt: skip
    error = error_of(lambda: register(on_group))
    assert error["Code"] == "AccessDeniedException"
    assert f"not authorized to perform: sagemaker:CreateModelPackage on resource: {version_1}" in error["Message"]
    on_versions = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:CreateModelPackage",
                                               "Resource": versions})  # fmt: skip
    error = error_of(lambda: register(on_versions))
    assert f"sagemaker:CreateModelPackage on resource: {group}" in error["Message"]
    registrar = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:CreateModelPackage",
                                             "Resource": [group, versions]})  # fmt: skip
    error = error_of(lambda: register(registrar, Tags=[{"Key": "k", "Value": "v"}]))  # tags need AddTags too
    assert f"sagemaker:AddTags on resource: {version_1}" in error["Message"]
    assert register(registrar) == version_1
    assert sagemaker.registry.group("iam-models").latest == 1  # nothing was created by the refused calls

    # Describe, Update and Delete are asked on the version, however the call names it
    reader = caller(sagemaker, moto_url, {"Effect": "Allow", "Resource": versions, "Action": [
        "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"]})  # fmt: skip
    for reference in (version_1, "iam-models/1"):
        assert reader.describe_model_package(ModelPackageName=reference)["ModelPackageVersion"] == 1
    reader.update_model_package(ModelPackageArn=version_1, ModelApprovalStatus="Approved")
    error = error_of(lambda: reader.delete_model_package(ModelPackageName="iam-models/1"))
    assert f"sagemaker:DeleteModelPackage on resource: {version_1}" in error["Message"]
    error = error_of(lambda: reader.describe_model_package_group(ModelPackageGroupName=group))
    assert f"sagemaker:DescribeModelPackageGroup on resource: {group}" in error["Message"]
    error = error_of(lambda: reader.create_model_package_group(ModelPackageGroupName="iam-other"))
    assert error["Code"] == "AccessDeniedException" and "model-package-group/iam-other" in error["Message"]
    elsewhere = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:DescribeModelPackage",
                                             "Resource": versions.replace("iam-models", "iam-others")})  # fmt: skip
    assert error_of(lambda: elsewhere.describe_model_package(ModelPackageName=version_1))["Code"] == (
        "AccessDeniedException"
    )

    # ListModelPackages names no resource: "*" only
    scoped = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:ListModelPackages",
                                          "Resource": [group, versions]})  # fmt: skip
    error = error_of(lambda: scoped.list_model_packages(ModelPackageGroupName="iam-models"))
    assert "sagemaker:ListModelPackages on resource: * because" in error["Message"]
    anywhere = caller(sagemaker, moto_url, {"Effect": "Allow", "Action": "sagemaker:ListModelPackages",
                                            "Resource": "*"})  # fmt: skip
    listed = anywhere.list_model_packages(ModelPackageGroupName="iam-models")["ModelPackageSummaryList"]
    assert [summary["ModelPackageArn"] for summary in listed] == [version_1]
