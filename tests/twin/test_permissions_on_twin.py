"""The twin enforces the template's policies: a function whose role lacks a permission it uses fails the run
with AWS's AccessDenied, as it would on AWS. A copy of the project whose template.yaml lost one statement, or
whose SageMaker execution role trusts SageMaker only under a condition a tuning job does not meet."""

import contextlib
import json
from pathlib import Path

import psutil
import pytest

from local_twin.template import Template
from tests.support.zips import good_zip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)


def without_statement(template: str, sid: str) -> str:
    """template.yaml's text with the policy statement ``sid`` cut out (its ``- Sid:`` line and what it holds)."""
    lines = template.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- Sid: {sid}")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip()) > indent or not lines[end].strip()):
        end += 1
    return "\n".join(lines[:start] + lines[end:]) + "\n"


def with_trust_condition(template: str, condition: str) -> str:
    """template.yaml's text with ``condition`` (YAML under ``Condition:``) added to the SageMaker role's trust."""
    trust = "              Service: sagemaker.amazonaws.com\n            Action: sts:AssumeRole\n"
    assert template.count(trust) == 1, "the SageMaker execution role's trust statement moved"
    return template.replace(trust, f"{trust}            Condition:\n{condition}")


def project_copy(tmp_path: Path, template: str) -> Path:
    """The project with this template.yaml (the rest linked)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("functions", "model_code", "statemachine", "layers", "samconfig.toml"):
        (project / name).symlink_to(ROOT / name)
    (project / "template.yaml").write_text(template)
    return project


def run_probe(tmp_path: Path, project: Path) -> tuple[dict, list, Template]:
    """Upload a small valid dataset to a twin of ``project``: the ended execution, the twin's denials, the
    template as the twin read it."""
    from local_twin.twin import Twin

    zip_path = tmp_path / "probe.zip"
    zip_path.write_bytes(good_zip())
    with Twin(root=project, workdir=tmp_path / "twin", parameters={"PollIntervalSeconds": "0"}) as twin:
        twin.upload_dataset(zip_path)
        execution = twin.follow(twin.wait_for_new_execution(set()), timeout=300, poll_seconds=0.2)
        return execution, list(twin.moto.denials), twin.template


def test_a_removed_statement_fails_the_run_with_access_denied(tmp_path):
    template = (ROOT / "template.yaml").read_text()
    assert "PinItForTheRunsJobs" in template  # the statement ValidateDataset needs to pin the upload
    execution, denied, _ = run_probe(
        tmp_path, project_copy(tmp_path, without_statement(template, "PinItForTheRunsJobs"))
    )
    denials = [(d.action, d.resource) for d in denied]
    assert execution["status"] == "FAILED"
    cause = json.loads(execution.get("cause") or "{}")
    assert "AccessDenied" in json.dumps(cause), execution
    assert "s3:PutObject" in json.dumps(cause)
    assert denials and denials[0][0] == "s3:PutObject" and "/dataset/probe.zip" in denials[0][1]


def test_a_trust_condition_the_tuning_job_does_not_send_fails_the_run(tmp_path):
    """The trust condition template.yaml had (aws:SourceAccount): SageMaker documents that key for training jobs
    and endpoints, not for tuning jobs, so the twin's tuning job sends none and cannot assume the role."""
    template = with_trust_condition(
        (ROOT / "template.yaml").read_text(),
        "              StringEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n",
    )
    execution, denied, read = run_probe(tmp_path, project_copy(tmp_path, template))
    assert execution["status"] == "FAILED"
    cause = json.dumps(json.loads(execution.get("cause") or "{}"))
    assert "CreateHyperParameterTuningJob" in cause and "Could not assume role" in cause, execution
    assumed = [(d.principal, d.resource) for d in denied if d.action == "sts:AssumeRole"]
    assert assumed == [("sagemaker.amazonaws.com", read.get_att("SageMakerExecutionRole", "Arn"))]


def test_an_execution_role_that_cannot_read_the_rollback_alarm_fails_the_endpoint_update(tmp_path):
    """Deploy's UpdateEndpoint names the rollback alarm: SageMaker reads it with the endpoint's execution role."""
    from local_twin.serving import serve_model, untrained_model_dir
    from local_twin.twin import Twin, TwinError

    template = (ROOT / "template.yaml").read_text()
    project = project_copy(tmp_path, without_statement(template, "ReadTheRollbackAlarm"))
    with Twin(root=project, workdir=tmp_path / "twin") as twin:
        endpoint = serve_model(twin, untrained_model_dir(tmp_path / "model", ["001.Zero", "002.One"]))
        sagemaker = twin.client("sagemaker")
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        )
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        package = sagemaker.create_model_package(  # an Approved version of the served model, as Register makes one
            ModelPackageGroupName=twin.connection()["model_package_group"], ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [model["PrimaryContainer"]], "SupportedContentTypes": ["image/jpeg"],
                                    "SupportedResponseMIMETypes": ["application/json"]},
        )["ModelPackageArn"]  # fmt: skip
        with pytest.raises(TwinError) as failed:
            twin.invoke_function("DeployFunction", {"run_id": "blind-run", "package": {"arn": package}})
        assert "UpdateEndpoint" in str(failed.value) and "cloudwatch:DescribeAlarms" in str(failed.value)
        role_arn = twin.template.get_att("SageMakerExecutionRole", "Arn")
        alarm_arn = twin.template.get_att("EndpointErrorsAlarm", "Arn")
        (denied,) = [d for d in twin.moto.denials if d.action == "cloudwatch:DescribeAlarms"]
        assert denied.resource == alarm_arn
        assert denied.principal.endswith(f"assumed-role/{role_arn.rsplit('/', 1)[1]}/SageMaker-{endpoint}")
        assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"

        # the grant template.yaml gives the role is what the update needs (the Deploy function has none)
        statement = {"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": alarm_arn}
        twin.moto.client("iam").put_role_policy(
            RoleName=role_arn.rsplit("/", 1)[1],
            PolicyName="rollback-alarm",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        released = {"run_id": "reading-run", "package": {"arn": package}}
        assert twin.invoke_function("DeployFunction", released)["action"] == "update"
    # that update's fleet was still starting when the twin stopped: it is stopped too, nothing of it left running
    assert serving_containers_under(tmp_path / "twin") == []


def serving_containers_under(folder: Path) -> list[int]:
    """The live serving containers (their entry points: each its container's process group) of endpoints whose
    instance folders are under ``folder``."""
    found = []
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if process.environ().get("SAGEMAKER_BASE_DIR", "").startswith(f"{folder}/"):
                found.append(process.pid)
    return found
