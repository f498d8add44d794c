"""QualityGate: the accuracy threshold, the rules' verdicts and the served model's accuracy decide.

Its decision on its own, and through its real Lambda handler with Stubbed SageMaker answers."""

import datetime

import pytest

from model_code import registry
from tests.support.handler_calls import ARN, call, described_endpoint
from tests.support.pipeline_steps import load_event

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/2"
TRAINED = {
    "FinalMetricDataList": [{"MetricName": "test_accuracy", "Value": 0.83}, {"MetricName": "test_loss", "Value": 0.6}],
    "DebugRuleEvaluationStatuses": [
        {"RuleConfigurationName": "LossNotDecreasing", "RuleEvaluationStatus": "NoIssuesFound"},
        {"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "NoIssuesFound"},
        {"RuleConfigurationName": "Overtraining", "RuleEvaluationStatus": "IssuesFound"},
        {
            "RuleConfigurationName": "ProfilerReport",
            "RuleEvaluationStatus": "Error",
            "StatusDetails": "the trial holds no data",
        },
    ],
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/t/output/model.tar.gz"},
}


FINGERPRINT = "5d41402abc4b2a76"  # events/pipeline/quality_gate.json's dataset


def live_version(accuracy: float, fingerprint: str = FINGERPRINT) -> registry.Version:
    return registry.Version(
        arn=PACKAGE_ARN, number=2, approval=registry.APPROVED, created="2026-12-04T00:00:00",
        metadata={registry.TEST_ACCURACY: str(accuracy), registry.DATASET_FINGERPRINT: fingerprint,
                  registry.DATASET_URI: "s3://b/datasets/dogs.zip", registry.DATASET_VERSION: "v1"},
    )  # fmt: skip


def test_quality_gate_decisions():
    from quality_gate.app import NOTHING_SERVED, ModelRejected, decide

    verdict = decide(TRAINED, 0.6, {"LossNotDecreasing", "Overfit"}, FINGERPRINT, NOTHING_SERVED)
    assert verdict["test_accuracy"] == 0.83 and verdict["model_data"].endswith("model.tar.gz")
    assert (verdict["served_accuracy"], verdict["comparison"]) == (None, "nothing is served yet")
    assert verdict["rules"]["Overtraining"] == {"service": "IssuesFound"}  # not configured as critical
    with pytest.raises(ModelRejected, match=r"below the threshold 0\.9000"):
        decide(TRAINED, 0.9, set(), FINGERPRINT, NOTHING_SERVED)
    with pytest.raises(ModelRejected, match=r"critical Debugger rule.*Overtraining"):
        decide(TRAINED, 0.6, {"Overtraining"}, FINGERPRINT, NOTHING_SERVED)
    with pytest.raises(ModelRejected, match=r"ProfilerReport \(service\): Error \(the trial holds no data\)"):
        decide(TRAINED, 0.6, {"Overfit", "ProfilerReport"}, FINGERPRINT, NOTHING_SERVED)
    with pytest.raises(ModelRejected, match="PoorWeightInitialization: not configured on the training job"):
        decide(TRAINED, 0.6, {"PoorWeightInitialization"}, FINGERPRINT, NOTHING_SERVED)
    with pytest.raises(ModelRejected, match=r"worse than live v2's 0\.9000 on the same test split, by more than"):
        decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.9), tolerance=0.01)
    with pytest.raises(ModelRejected, match="reported no test_accuracy"):
        decide({"FinalMetricDataList": []}, 0.6, set(), FINGERPRINT, NOTHING_SERVED)


def test_quality_gate_compares_accuracies_only_on_the_same_test_split():
    from quality_gate.app import UNREGISTERED, ModelRejected, decide

    same = decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.81))
    assert (same["served_accuracy"], same["served_version"]) == (0.81, 2)
    assert same["comparison"] == "not worse than live v2 (0.8100) on the same test split"
    with pytest.raises(ModelRejected, match="worse than live v2"):
        decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.95))
    # a better live score on another dataset neither rejects nor counts as a comparison
    other = decide(TRAINED, 0.6, set(), "ffffffffffffffff", live_version(0.95))
    assert other["served_accuracy"] is None
    assert other["comparison"] == (
        "not compared: live v2 was tested on dataset dogs.zip@v1 (fingerprint 5d41402abc4b2a76), "
        "this model on fingerprint ffffffffffffffff"
    )
    unregistered = decide(TRAINED, 0.6, set(), FINGERPRINT, UNREGISTERED)
    assert unregistered["comparison"].startswith("not compared: the live model has no registry record")


def test_a_retrain_within_the_tolerance_of_the_live_model_deploys():
    """Two trainings of equal quality on the same images differ by an image or two (on the twin's digits: 1.0000,
    then 0.9926): up to AccuracyTolerance below the live version passes, and says so; beyond it is refused."""
    from quality_gate.app import ModelRejected, decide

    within = decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.84), tolerance=0.01)
    assert (within["served_accuracy"], within["served_version"]) == (0.84, 2)
    assert within["comparison"] == "within the tolerance 0.0100 of live v2's 0.8400 on the same test split"
    exactly = decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.85), tolerance=0.02)
    assert exactly["comparison"].startswith("within the tolerance 0.0200")  # 0.85 - 0.83 is 0.02, not 0.0200001
    with pytest.raises(ModelRejected, match=r"0\.8300 is worse than live v2's 0\.8400 .* by more than the tolerance"):
        decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.84), tolerance=0.0)
    with pytest.raises(ModelRejected, match=r"by more than the tolerance 0\.0100"):
        decide(TRAINED, 0.6, set(), FINGERPRINT, live_version(0.8401), tolerance=0.01)


def judged_by_the_job(**codes: int) -> dict:
    """A job without the Debugger service: its verdicts are metric lines (0 NoIssuesFound, 1 IssuesFound, 2 Error)."""
    verdicts = [{"MetricName": f"debugger_rule_{rule}", "Value": float(code)} for rule, code in codes.items()]
    return {
        **TRAINED,
        "FinalMetricDataList": TRAINED["FinalMetricDataList"] + verdicts,
        "DebugRuleEvaluationStatuses": [],
    }


def test_quality_gate_reads_the_jobs_own_rule_verdicts():
    from quality_gate.app import NOTHING_SERVED, ModelRejected, decide

    healthy = judged_by_the_job(LossNotDecreasing=0, Overfit=0, Overtraining=1)
    verdict = decide(healthy, 0.6, {"LossNotDecreasing", "Overfit"}, FINGERPRINT, NOTHING_SERVED)
    assert verdict["rules"] == {
        "LossNotDecreasing": {"job": "NoIssuesFound"}, "Overfit": {"job": "NoIssuesFound"},
        "Overtraining": {"job": "IssuesFound"},
    }  # fmt: skip
    with pytest.raises(ModelRejected, match=r"found issues: Overfit \(job\): IssuesFound"):
        decide(
            judged_by_the_job(LossNotDecreasing=0, Overfit=1),
            0.6,
            {"LossNotDecreasing", "Overfit"},
            FINGERPRINT,
            NOTHING_SERVED,
        )
    with pytest.raises(ModelRejected, match=r"LossNotDecreasing \(job\): Error"):
        decide(
            judged_by_the_job(LossNotDecreasing=2, Overfit=0),
            0.6,
            {"LossNotDecreasing", "Overfit"},
            FINGERPRINT,
            NOTHING_SERVED,
        )
    with pytest.raises(ModelRejected, match="Overfit: not configured on the training job"):
        decide(
            judged_by_the_job(LossNotDecreasing=0), 0.6, {"LossNotDecreasing", "Overfit"}, FINGERPRINT, NOTHING_SERVED
        )


def test_quality_gate_needs_the_job_and_the_service_to_agree():
    from quality_gate.app import NOTHING_SERVED, ModelRejected, decide

    both = {
        **judged_by_the_job(LossNotDecreasing=0, Overfit=0),
        "DebugRuleEvaluationStatuses": TRAINED["DebugRuleEvaluationStatuses"],
    }
    assert decide(both, 0.6, {"LossNotDecreasing", "Overfit"}, FINGERPRINT, NOTHING_SERVED)["rules"]["Overfit"] == {
        "job": "NoIssuesFound", "service": "NoIssuesFound",
    }  # fmt: skip
    service_flags = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound"}]
    with pytest.raises(ModelRejected, match=r"Overfit \(job\): NoIssuesFound, Overfit \(service\): IssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_flags}, 0.6, {"Overfit"}, FINGERPRINT, NOTHING_SERVED)
    service_running = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "Stopped"}]
    with pytest.raises(ModelRejected, match="did not evaluate to NoIssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_running}, 0.6, {"Overfit"}, FINGERPRINT, NOTHING_SERVED)


def test_quality_gate_reads_the_live_versions_record_back_from_sagemaker(stubbed):
    from quality_gate import app

    event = load_event("quality_gate")
    now = datetime.datetime.now()
    training = {
        "TrainingJobName": event["training"]["name"], "TrainingJobArn": ARN.format("training-job"),
        "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed", "CreationTime": now,
        "AlgorithmSpecification": {"TrainingInputMode": "File"}, "ResourceConfig": {"VolumeSizeInGB": 1},
        "StoppingCondition": {}, **TRAINED,
    }  # fmt: skip
    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_training_job", training, {"TrainingJobName": event["training"]["name"]})
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"), {"EndpointName": "dogbreeds-endpoint"})
    config = {
        "EndpointConfigName": "old-config", "EndpointConfigArn": ARN.format("endpoint-config"), "CreationTime": now,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "old-model"}],
    }  # fmt: skip
    sagemaker.add_response("describe_endpoint_config", config, {"EndpointConfigName": "old-config"})
    served = {
        "ModelName": "old-model", "ModelArn": ARN.format("model"), "CreationTime": now,
        "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
    }  # fmt: skip
    sagemaker.add_response("describe_model", served, {"ModelName": "old-model"})
    live = live_version(0.81)
    package = {
        "ModelPackageName": "dogbreeds-models", "ModelPackageArn": PACKAGE_ARN, "ModelPackageVersion": 2,
        "CreationTime": now, "ModelPackageStatus": "Completed", "ModelApprovalStatus": registry.APPROVED,
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "CustomerMetadataProperties": registry.package_metadata(live.metadata),
    }  # fmt: skip
    sagemaker.add_response("describe_model_package", package, {"ModelPackageName": PACKAGE_ARN})
    verdict = call(app, event)
    assert (verdict["test_accuracy"], verdict["served_accuracy"], verdict["served_version"]) == (0.83, 0.81, 2)
    assert verdict["model_data"] == TRAINED["ModelArtifacts"]["S3ModelArtifacts"]
