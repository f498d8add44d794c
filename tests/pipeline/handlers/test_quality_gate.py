"""QualityGate: the accuracy threshold, the rules' verdicts and the served model's accuracy decide.

Its decision on its own, and through its real Lambda handler with Stubbed SageMaker answers."""

import datetime

import pytest

from tests.support.handler_calls import ARN, call, described_endpoint
from tests.support.pipeline_steps import load_event

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


def test_quality_gate_decisions():
    from quality_gate.app import ModelRejected, decide

    verdict = decide(TRAINED, 0.6, {"LossNotDecreasing", "Overfit"}, served=0.8)
    assert verdict["test_accuracy"] == 0.83 and verdict["model_data"].endswith("model.tar.gz")
    assert verdict["rules"]["Overtraining"] == {"service": "IssuesFound"}  # not configured as critical
    with pytest.raises(ModelRejected, match=r"below the threshold 0\.9000"):
        decide(TRAINED, 0.9, set(), None)
    with pytest.raises(ModelRejected, match=r"critical Debugger rule.*Overtraining"):
        decide(TRAINED, 0.6, {"Overtraining"}, None)
    with pytest.raises(ModelRejected, match=r"ProfilerReport \(service\): Error \(the trial holds no data\)"):
        decide(TRAINED, 0.6, {"Overfit", "ProfilerReport"}, None)
    with pytest.raises(ModelRejected, match="PoorWeightInitialization: not configured on the training job"):
        decide(TRAINED, 0.6, {"PoorWeightInitialization"}, None)
    with pytest.raises(ModelRejected, match=r"worse than the served model's 0\.9000"):
        decide(TRAINED, 0.6, set(), 0.9)
    with pytest.raises(ModelRejected, match="reported no test_accuracy"):
        decide({"FinalMetricDataList": []}, 0.6, set(), None)


def judged_by_the_job(**codes: int) -> dict:
    """A job without the Debugger service: its verdicts are metric lines (0 NoIssuesFound, 1 IssuesFound, 2 Error)."""
    verdicts = [{"MetricName": f"debugger_rule_{rule}", "Value": float(code)} for rule, code in codes.items()]
    return {
        **TRAINED,
        "FinalMetricDataList": TRAINED["FinalMetricDataList"] + verdicts,
        "DebugRuleEvaluationStatuses": [],
    }


def test_quality_gate_reads_the_jobs_own_rule_verdicts():
    from quality_gate.app import ModelRejected, decide

    healthy = judged_by_the_job(LossNotDecreasing=0, Overfit=0, Overtraining=1)
    verdict = decide(healthy, 0.6, {"LossNotDecreasing", "Overfit"}, None)
    assert verdict["rules"] == {
        "LossNotDecreasing": {"job": "NoIssuesFound"}, "Overfit": {"job": "NoIssuesFound"},
        "Overtraining": {"job": "IssuesFound"},
    }  # fmt: skip
    with pytest.raises(ModelRejected, match=r"found issues: Overfit \(job\): IssuesFound"):
        decide(judged_by_the_job(LossNotDecreasing=0, Overfit=1), 0.6, {"LossNotDecreasing", "Overfit"}, None)
    with pytest.raises(ModelRejected, match=r"LossNotDecreasing \(job\): Error"):
        decide(judged_by_the_job(LossNotDecreasing=2, Overfit=0), 0.6, {"LossNotDecreasing", "Overfit"}, None)
    with pytest.raises(ModelRejected, match="Overfit: not configured on the training job"):
        decide(judged_by_the_job(LossNotDecreasing=0), 0.6, {"LossNotDecreasing", "Overfit"}, None)


def test_quality_gate_needs_the_job_and_the_service_to_agree():
    from quality_gate.app import ModelRejected, decide

    both = {
        **judged_by_the_job(LossNotDecreasing=0, Overfit=0),
        "DebugRuleEvaluationStatuses": TRAINED["DebugRuleEvaluationStatuses"],
    }
    assert decide(both, 0.6, {"LossNotDecreasing", "Overfit"}, None)["rules"]["Overfit"] == {
        "job": "NoIssuesFound", "service": "NoIssuesFound",
    }  # fmt: skip
    service_flags = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound"}]
    with pytest.raises(ModelRejected, match=r"Overfit \(job\): NoIssuesFound, Overfit \(service\): IssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_flags}, 0.6, {"Overfit"}, None)
    service_running = [{"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "Stopped"}]
    with pytest.raises(ModelRejected, match="did not evaluate to NoIssuesFound"):
        decide({**both, "DebugRuleEvaluationStatuses": service_running}, 0.6, {"Overfit"}, None)


def test_quality_gate_reads_the_served_models_accuracy_back_from_sagemaker(stubbed):
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
        "PrimaryContainer": {"Image": "img", "Environment": {"MODEL_TEST_ACCURACY": "0.810000"}},
    }  # fmt: skip
    sagemaker.add_response("describe_model", served, {"ModelName": "old-model"})
    verdict = call(app, event)
    assert (verdict["test_accuracy"], verdict["served_accuracy"]) == (0.83, 0.81)
    assert verdict["model_data"] == TRAINED["ModelArtifacts"]["S3ModelArtifacts"]
