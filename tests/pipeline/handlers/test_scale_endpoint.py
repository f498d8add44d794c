"""ScaleEndpoint: an instance endpoint's variant registered with Application Auto Scaling, a serverless one's
leftover target removed. Through its real Lambda handler, with a Stubbed client (botocore checks each request)."""

import pytest

from tests.support.handler_calls import call, described_endpoint
from tests.support.pipeline_steps import load_event

TARGET = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/dogbreeds-endpoint/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
TARGET_ARN = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/056ac5c0b4ab4e9ab4f4ba8bbd5eb1c2"


def registered_target() -> dict:
    import datetime

    return TARGET | {
        "MinCapacity": 1, "MaxCapacity": 2, "RoleARN": "arn:aws:iam::123456789012:role/x",
        "CreationTime": datetime.datetime.now(), "ScalableTargetARN": TARGET_ARN,
    }  # fmt: skip


def test_an_instance_endpoint_scales_between_its_bounds_on_invocations_per_instance(stubbed, monkeypatch):
    from scale_endpoint import app

    monkeypatch.setenv("ENDPOINT_MIN_INSTANCES", "2")
    monkeypatch.setenv("ENDPOINT_MAX_INSTANCES", "5")
    monkeypatch.setenv("ENDPOINT_INVOCATIONS_PER_INSTANCE", "120")
    stubbed("sagemaker").add_response(
        "describe_endpoint", described_endpoint("InService"), {"EndpointName": "dogbreeds-endpoint"}
    )
    autoscaling = stubbed("application-autoscaling")
    autoscaling.add_response(
        "register_scalable_target", {"ScalableTargetARN": TARGET_ARN}, TARGET | {"MinCapacity": 2, "MaxCapacity": 5}
    )
    policy = {
        "PolicyName": "invocations-per-instance",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 120.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }
    autoscaling.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:policy"}, TARGET | policy)
    assert call(app, load_event("scale_endpoint")) == {
        "scaling": "target-tracking", "min_instances": 2, "max_instances": 5, "invocations_per_instance": 120.0,
    }  # fmt: skip


@pytest.mark.parametrize("left_by_an_instance_endpoint", [True, False])
def test_a_serverless_endpoint_drops_a_target_an_instance_endpoint_left(
    stubbed, monkeypatch, left_by_an_instance_endpoint
):
    from scale_endpoint import app

    monkeypatch.setenv("SERVERLESS_INFERENCE", "true")
    autoscaling = stubbed("application-autoscaling")
    found = [registered_target()] if left_by_an_instance_endpoint else []
    listed = {"ServiceNamespace": "sagemaker", "ResourceIds": [TARGET["ResourceId"]]}
    autoscaling.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": found},
        listed | {"ScalableDimension": TARGET["ScalableDimension"]},
    )
    if left_by_an_instance_endpoint:  # asked first: deregistering an absent target is an error
        autoscaling.add_response("deregister_scalable_target", {}, TARGET)
    assert call(app, load_event("scale_endpoint")) == {"scaling": "serverless"}


def test_after_a_failed_first_deployment_there_is_nothing_to_scale(stubbed):
    """RestoreScaling after a Deploy that never made the endpoint: nothing is registered."""
    from scale_endpoint import app

    stubbed("sagemaker").add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
    stubbed("application-autoscaling")  # nothing may be sent
    assert call(app, load_event("scale_endpoint")) == {"scaling": "no endpoint"}


def test_an_endpoint_still_rolling_back_is_not_registered_and_says_so(stubbed):
    """Application Auto Scaling registers an InService endpoint's variant only: RestoreScaling's error is caught
    by the state machine, and the next successful run registers it."""
    from scale_endpoint import app

    stubbed("sagemaker").add_response("describe_endpoint", described_endpoint("RollingBack"))
    stubbed("application-autoscaling")
    with pytest.raises(app.EndpointNotInService, match="dogbreeds-endpoint is RollingBack"):
        call(app, load_event("scale_endpoint"))


def test_bounds_the_wrong_way_round_are_refused_by_name(stubbed, monkeypatch):
    from scale_endpoint import app

    monkeypatch.setenv("ENDPOINT_MIN_INSTANCES", "3")
    monkeypatch.setenv("ENDPOINT_MAX_INSTANCES", "2")
    stubbed("application-autoscaling")  # nothing may be sent
    with pytest.raises(ValueError, match="EndpointMinInstances=3 is above EndpointMaxInstances=2"):
        call(app, load_event("scale_endpoint"))
