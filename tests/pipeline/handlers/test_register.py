"""Register: every trained model becomes a version with its lineage, metrics and approval; a refused one too.

Through its real Lambda handler, with Stubbed SageMaker and S3 answers."""

import datetime
import hashlib
import json

import pytest
from botocore.stub import ANY

from model_code import registry
from tests.support.handler_calls import ARN, call, sent_requests
from tests.support.pipeline_steps import load_event

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/4"
SUBMIT_DIRECTORY = "s3://dogbreeds-data/code/sourcedir-0123abcd.tar.gz"


def described_training_job(name: str) -> dict:
    return {
        "TrainingJobName": name, "TrainingJobArn": ARN.format("training-job"), "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed", "CreationTime": datetime.datetime.now(),
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"VolumeSizeInGB": 1},
        "StoppingCondition": {},
        "HyperParameters": {
            "lr": "0.0031", "batch-size": "64", "epochs": "5", "arch": '"resnet18"',
            "sagemaker_program": '"train_model.py"', "sagemaker_submit_directory": json.dumps(SUBMIT_DIRECTORY),
            "dataset-fingerprint": '"5d41402abc4b2a76"',
        },
        "FinalMetricDataList": [
            {"MetricName": "test_accuracy", "Value": 0.83}, {"MetricName": "test_loss", "Value": 0.61},
            {"MetricName": "debugger_rule_Overfit", "Value": 0.0},
        ],
        "ModelArtifacts": {"S3ModelArtifacts": "s3://dogbreeds-data/models/dogbreeds-1a2b3c4d5e-train/output/model.tar.gz"},
    }  # fmt: skip


def registered(stubbed, event: dict) -> tuple[dict, dict, dict]:
    """Register's answer, its CreateModelPackage request and the metrics document it stored."""
    from register import app

    sagemaker, s3 = stubbed("sagemaker"), stubbed("s3")
    name = event["training"]["name"]
    sagemaker.add_response("describe_training_job", described_training_job(name), {"TrainingJobName": name})
    stored = sent_requests(s3, "PutObject")
    s3.add_response("put_object", {}, {"Bucket": "dogbreeds-data", "Key": ANY, "Body": ANY, "ContentType": ANY})
    created = sent_requests(sagemaker, "CreateModelPackage")
    sagemaker.add_response("create_model_package", {"ModelPackageArn": PACKAGE_ARN})
    result = call(app, event)
    ((request,), (put,)) = created, stored
    body = put["Body"]
    return result, request, {**put, "Body": body.getvalue() if hasattr(body, "getvalue") else body}


def test_a_gated_model_is_registered_approved_with_its_lineage(stubbed):
    from common import naming

    event = load_event("register")
    result, request, put = registered(stubbed, event)
    assert result == {
        "arn": PACKAGE_ARN, "version": 4, "approval": "Approved",
        "summary": "v4 (test accuracy 0.8300, dataset dogImages.zip@3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY)",
    }  # fmt: skip
    assert request["ModelPackageGroupName"] == "dogbreeds-models"
    assert request["ClientToken"] == naming.register_token(event["run_id"])  # a retry finds its version
    assert request["ModelApprovalStatus"] == "Approved"
    assert request["MetadataProperties"] == {"GeneratedBy": event["execution"], "ProjectId": "dogbreeds"}
    record = registry.read_metadata(request["CustomerMetadataProperties"])
    assert record == {
        "run.id": event["run_id"],
        "dataset.uri": "s3://dogbreeds-data/datasets/dogImages.zip",
        "dataset.version-id": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "dataset.fingerprint": "5d41402abc4b2a76",
        "tuning.job": "dogbreeds-1a2b3c4d5e-hpo",
        "tuning.best-trial": "dogbreeds-1a2b3c4d5e-hpo-002-8c1f2e3d",
        "training.job": "dogbreeds-1a2b3c4d5e-train",
        "code.uri": SUBMIT_DIRECTORY,
        "metric.test-accuracy": "0.83",
        "metric.test-loss": "0.61",
        "hp.arch": "resnet18", "hp.batch-size": "64", "hp.epochs": "5", "hp.lr": "0.0031",
        "samples.train": "120", "samples.valid": "16", "samples.test": "16",
        "rule.Overfit.job": "NoIssuesFound",
    }  # fmt: skip
    document = json.loads(put["Body"])
    assert put["Key"] == "models/dogbreeds-1a2b3c4d5e-train/registry/metrics.json"
    statistics = request["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == f"s3://dogbreeds-data/{put['Key']}"
    assert statistics["ContentDigest"] == "sha256:" + hashlib.sha256(put["Body"]).hexdigest()
    assert (document["test_accuracy"], document["images"]["test"]) == (0.83, 16)
    assert document["rules"] == {"Overfit": {"job": {"RuleEvaluationStatus": "NoIssuesFound"}}}
    assert document["loss_curves"] == {
        "archive": "s3://dogbreeds-data/models/dogbreeds-1a2b3c4d5e-train/output/output.tar.gz",
        "member": "loss_curves.png",
    }
    assert document["tuning_chart"]["tuning_job"] == "dogbreeds-1a2b3c4d5e-hpo"
    assert request["Tags"] == [{"Key": "pipeline-run", "Value": event["run_id"]}]


def test_manual_approval_leaves_a_gated_model_pending(stubbed, monkeypatch):
    monkeypatch.setenv("APPROVAL_MODE", "manual")
    result, request, _ = registered(stubbed, load_event("register"))
    assert result["approval"] == request["ModelApprovalStatus"] == "PendingManualApproval"


def test_a_refused_model_is_registered_rejected_with_the_gates_reason(stubbed):
    event = load_event("register")
    del event["gate"]
    reason = "test accuracy 0.8300 is worse than live v3's 0.9000 on the same test split"
    event["rejection"] = {"Error": "ModelRejected", "Cause": json.dumps({"errorMessage": reason})}
    result, request, put = registered(stubbed, event)
    assert result["approval"] == request["ModelApprovalStatus"] == "Rejected"
    assert request["ModelPackageDescription"].endswith(f"Rejected by the quality gate: {reason}")
    assert json.loads(put["Body"])["gate"] == {"rejected": reason}


def test_an_unknown_approval_mode_is_refused_by_name(monkeypatch):
    from register import app

    with pytest.raises(ValueError, match="APPROVAL_MODE must be one of"):
        app.approval(True, "sometimes")
