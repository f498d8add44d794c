"""Step 7: every trained final model becomes a version in the stack's model package group, with its lineage and
metrics: Approved when it passed the quality gate and the stack approves automatically, PendingManualApproval when
a person approves (ApprovalMode manual), Rejected with the gate's reason when it failed the gate (so the history
is complete). The full metrics and rule verdicts go to S3 as the package's ModelQuality statistics; the numbers a
list or a comparison needs are in its CustomerMetadataProperties (model_code/registry.py's keys).
"""

import hashlib
import json
import os

from common import aws, naming
from common.aws import transient_errors
from common.powertools import logger, step_handler
from common.sagemaker_requests import PackageRecord, inference_container, model_package_request
from common.training_results import final_metric, rule_statuses, rule_verdicts
from model_code import registry
from model_code.metrics import TEST_ACCURACY, TEST_LOSS
from model_code.rule_settings import LOSS_PLOT

MAX_DESCRIPTION = 1024  # ModelPackageDescription


def rejection_reason(error: dict) -> str:
    """The gate's reason from the state machine's Catch (``{"Error", "Cause"}``, Cause a Lambda's error JSON)."""
    try:
        return json.loads(error["Cause"])["errorMessage"]
    except (KeyError, TypeError, ValueError):
        return error.get("Cause") or error.get("Error", "rejected by the quality gate")


def approval(accepted: bool, mode: str) -> str:
    if mode not in registry.APPROVAL_MODES:
        raise ValueError(f"APPROVAL_MODE must be one of {registry.APPROVAL_MODES}, got {mode!r}")
    if not accepted:
        return registry.REJECTED
    return registry.APPROVED if mode == registry.AUTO else registry.PENDING


def lineage(event: dict, described: dict) -> dict[str, object]:
    """The record's fields: where the model came from and how it scored."""
    dataset, manifest = event["dataset"], event["manifest"]
    hyperparameters = {
        name: json.loads(value) if value[:1] in '"[{' else value
        for name, value in described.get("HyperParameters", {}).items()
        if not name.startswith("sagemaker_") and name != "dataset-fingerprint"
    }
    fields: dict[str, object] = {
        registry.RUN_ID: event["run_id"],
        registry.DATASET_URI: f"s3://{dataset['bucket']}/{dataset['key']}",
        registry.DATASET_VERSION: dataset.get("version_id"),
        registry.DATASET_FINGERPRINT: manifest["fingerprint"],
        registry.TUNING_JOB: event["tuning"]["name"],
        registry.BEST_TRIAL: event["best"]["training_job_name"],
        registry.TRAINING_JOB: described["TrainingJobName"],
        registry.CODE_URI: json.loads(described.get("HyperParameters", {}).get("sagemaker_submit_directory", "null")),
        registry.TEST_ACCURACY: final_metric(described, TEST_ACCURACY),
        registry.TEST_LOSS: final_metric(described, TEST_LOSS),
    }
    fields |= {f"{registry.HYPERPARAMETER}{name}": value for name, value in sorted(hyperparameters.items())}
    fields |= {f"{registry.SAMPLES}{split}": count for split, count in manifest["images"].items()}
    for rule, sources in sorted(rule_statuses(rule_verdicts(described)).items()):
        fields |= {f"{registry.RULE}{rule}.{source}": status for source, status in sorted(sources.items())}
    return fields


def output_archive(model_data: str) -> str:
    """A job's output data (the files under /opt/ml/output/data), which SageMaker writes beside model.tar.gz."""
    return model_data.rsplit("/", 1)[0] + "/output.tar.gz"


def description(event: dict, accuracy: float | None, reason: str | None) -> str:
    dataset = event["dataset"]["key"].rsplit("/", 1)[-1]
    scored = f"test accuracy {accuracy:.4f}" if accuracy is not None else "no test accuracy"
    text = f"{dataset}: {scored}, run {event['run_id']}"
    if reason:
        text += f". Rejected by the quality gate: {reason}"
    return text[:MAX_DESCRIPTION]


def metrics_document(event: dict, described: dict, fields: dict, reason: str | None) -> dict:
    """The package's ModelQuality statistics: everything the metadata cannot hold (full rule evaluations, where the
    plots are)."""
    model_data = described["ModelArtifacts"]["S3ModelArtifacts"]
    return {
        "model_data": model_data,
        "test_accuracy": fields[registry.TEST_ACCURACY],
        "test_loss": fields[registry.TEST_LOSS],
        "images": event["manifest"]["images"],
        "rules": rule_verdicts(described),
        "gate": event.get("gate") or {"rejected": reason},
        "debugger_output": described.get("DebugHookConfig", {}).get("S3OutputPath"),
        # the loss curves the job drew (in its output.tar.gz, beside model.tar.gz); the tuning chart is drawn from
        # the tuning job's trials (`dogbreeds plots <run>` draws both)
        "loss_curves": {"archive": output_archive(model_data), "member": LOSS_PLOT},
        "tuning_chart": {"tuning_job": event["tuning"]["name"], "drawn_by": f"dogbreeds plots {event['run_id']}"},
    }


@step_handler
def lambda_handler(event: dict) -> dict:
    sagemaker = aws.client("sagemaker")
    with transient_errors():
        described = sagemaker.describe_training_job(TrainingJobName=event["training"]["name"])
    reason = rejection_reason(event["rejection"]) if "rejection" in event else None
    status = approval(reason is None, os.environ["APPROVAL_MODE"])
    fields = lineage(event, described)
    model_data = described["ModelArtifacts"]["S3ModelArtifacts"]
    document = metrics_document(event, described, fields, reason)
    body = json.dumps(document, indent=2, default=str).encode()
    bucket = os.environ["BUCKET_NAME"]
    key = f"{os.environ['MODELS_PREFIX']}{described['TrainingJobName']}/registry/metrics.json"
    with transient_errors():
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    record = PackageRecord(
        group=os.environ["MODEL_PACKAGE_GROUP"],
        client_token=naming.register_token(event["run_id"]),
        approval=status,
        description=description(event, fields[registry.TEST_ACCURACY], reason),
        container=inference_container(image_uri=os.environ["INFERENCE_IMAGE_URI"], model_data=model_data),
        metadata=registry.package_metadata(fields),
        metrics_uri=f"s3://{bucket}/{key}",
        metrics_digest=hashlib.sha256(body).hexdigest(),
        execution_arn=event["execution"],
        project=os.environ["SAGEMAKER_NAME_PREFIX"],
        tags=naming.run_tags(event["run_id"]),
    )
    with transient_errors():
        arn = sagemaker.create_model_package(**model_package_request(record))["ModelPackageArn"]
    number = int(arn.rsplit("/", 1)[1])  # versioned packages' ARNs end in /<group>/<version>
    logger.info("model registered", extra={"package": arn, "approval": status})
    summary = registry.summary(number, registry.read_metadata(record.metadata))
    return {"arn": arn, "version": number, "approval": status, "summary": summary}
