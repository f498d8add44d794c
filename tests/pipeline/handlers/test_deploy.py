"""Deploy: the gated model served by creating or updating the endpoint, waiting its turn, replacing a failed one.

Through its real Lambda handler, with Stubbed AWS clients and the sample events."""

import datetime

import pytest

from tests.support.handler_calls import ARN, call, described_endpoint, sent_requests
from tests.support.pipeline_steps import ENVIRONMENT, load_event

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/dogbreeds-models/3"


def described_package(approval: str) -> dict:
    return {
        "ModelPackageName": "dogbreeds-models", "ModelPackageGroupName": "dogbreeds-models", "ModelPackageVersion": 3,
        "ModelPackageArn": PACKAGE_ARN, "CreationTime": datetime.datetime.now(), "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []}, "ModelApprovalStatus": approval,
    }  # fmt: skip


def an_approved_package(sagemaker) -> None:
    sagemaker.add_response("describe_model_package", described_package("Approved"), {"ModelPackageName": PACKAGE_ARN})


def test_deploy_serves_only_an_approved_version(stubbed):
    from deploy import app

    sagemaker = stubbed("sagemaker")
    sagemaker.add_response("describe_model_package", described_package("PendingManualApproval"))
    with pytest.raises(app.PackageNotApproved, match="v3 is PendingManualApproval, not Approved"):
        call(app, load_event("deploy"))


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating"])
def test_deploy_waits_its_turn_while_another_run_changes_the_endpoint(stubbed, status):
    from deploy import app

    sagemaker = stubbed("sagemaker")
    an_approved_package(sagemaker)
    sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
    sagemaker.add_response("describe_endpoint", described_endpoint(status))
    with pytest.raises(app.EndpointBusy, match=f"dogbreeds-endpoint is {status}: another run is changing it"):
        call(app, load_event("deploy"))


def a_live_instance_endpoint(stubbed):
    """Deploy's calls up to the update: the model and config made, the endpoint InService on an ml.m5.large
    variant (old-config). Returns the sagemaker Stubber, for the update's answer."""
    sagemaker = stubbed("sagemaker")
    an_approved_package(sagemaker)
    sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
    sagemaker.add_response("describe_endpoint", described_endpoint("InService"))
    sagemaker.add_response(
        "describe_endpoint_config", live_config(serverless=False), {"EndpointConfigName": "old-config"}
    )
    return sagemaker


def test_deploy_losing_the_race_to_update_waits_its_turn(stubbed):
    from deploy import app

    sagemaker = a_live_instance_endpoint(stubbed)
    sagemaker.add_client_error(
        "update_endpoint", "ValidationException", 'Cannot update in-progress endpoint "arn:...:endpoint/x".'
    )
    with pytest.raises(app.EndpointBusy, match="being changed by another run: Cannot update in-progress endpoint"):
        call(app, load_event("deploy"))


def expect_replacement(sagemaker, *live: tuple[str, dict]) -> None:
    """Deploy's first try reads the live endpoint (``live``: operation, response) and deletes it; the state
    machine's retry finds it gone and creates it."""
    for attempt in ("first try", "retry"):
        an_approved_package(sagemaker)
        sagemaker.add_response("create_model", {"ModelArn": ARN.format("model")})
        sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": ARN.format("endpoint-config")})
        if attempt == "first try":
            for operation, response in live:
                sagemaker.add_response(operation, response)
            sagemaker.add_response("delete_endpoint", {}, {"EndpointName": "dogbreeds-endpoint"})
    sagemaker.add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint")
    sagemaker.add_response("create_endpoint", {"EndpointArn": ARN.format("endpoint")})


def test_deploy_deletes_a_failed_endpoint_and_creates_it_on_the_retry(stubbed):
    from deploy import app

    expect_replacement(stubbed("sagemaker"), ("describe_endpoint", described_endpoint("Failed")))
    with pytest.raises(app.EndpointBusy, match="was Failed: deleted, to be created again"):
        call(app, load_event("deploy"))
    assert call(app, load_event("deploy"))["action"] == "create"


def test_deploy_updates_the_live_endpoint_with_the_gated_model(stubbed):
    from common import naming
    from deploy import app

    sagemaker = a_live_instance_endpoint(stubbed)
    sagemaker.add_response("update_endpoint", {"EndpointArn": ARN.format("endpoint")})
    sent = {op: sent_requests(sagemaker, op) for op in ("CreateModel", "CreateEndpointConfig", "UpdateEndpoint")}
    run_id = "dogImages-4f0c2a9d1e7b3c55"
    result = call(app, load_event("deploy"))
    ((model,), (config,), (update,)) = sent.values()
    assert model["ModelName"] == naming.model_name("dogbreeds", run_id) == result["model_name"]
    assert model["PrimaryContainer"] == {"ModelPackageName": PACKAGE_ARN}  # what the gate and rollback read back
    assert (result["model_package_arn"], result["version"]) == (PACKAGE_ARN, 3)
    assert model["ExecutionRoleArn"] == ENVIRONMENT["SAGEMAKER_ROLE_ARN"]
    (variant,) = config["ProductionVariants"]
    assert (config["EndpointConfigName"], variant["ModelName"]) == (result["config_name"], model["ModelName"])
    assert variant["InstanceType"] == "ml.m5.large"
    assert (update["EndpointName"], update["EndpointConfigName"]) == ("dogbreeds-endpoint", result["config_name"])
    assert update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    rollback_alarms = update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert rollback_alarms == [{"AlarmName": ENVIRONMENT["ROLLBACK_ALARM_NAME"]}]
    assert update["RetainAllVariantProperties"] is True  # the new fleet starts at the scaled instance count
    assert result["action"] == "update"


def test_deploy_deregisters_a_scaled_variant_before_changing_its_instance_type(stubbed, monkeypatch):
    """Application Auto Scaling fails an update that changes a scaled variant's instance type: deregistered first
    (its policy goes with it); ScaleEndpoint registers it again once the new fleet is InService."""
    from deploy import app

    monkeypatch.setenv("ENDPOINT_INSTANCE_TYPE", "ml.c5.xlarge")  # the live variant runs on ml.m5.large
    sagemaker = a_live_instance_endpoint(stubbed)
    sagemaker.add_response("update_endpoint", {"EndpointArn": ARN.format("endpoint")})
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/dogbreeds-endpoint/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    autoscaling = stubbed("application-autoscaling")
    listed = target | {"MinCapacity": 1, "MaxCapacity": 2, "RoleARN": "arn:aws:iam::123456789012:role/x",
                       "CreationTime": datetime.datetime.now()}  # fmt: skip
    listing = {"ServiceNamespace": "sagemaker", "ResourceIds": [target["ResourceId"]]}
    autoscaling.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [listed]},
        listing | {"ScalableDimension": target["ScalableDimension"]},
    )
    autoscaling.add_response("deregister_scalable_target", {}, target)
    calls = []
    for stub in (sagemaker, autoscaling):
        stub.client.meta.events.register("provide-client-params", lambda model, **_: calls.append(model.name))
    configs = sent_requests(sagemaker, "CreateEndpointConfig")
    assert call(app, load_event("deploy"))["action"] == "update"
    assert [config["ProductionVariants"][0]["InstanceType"] for config in configs] == ["ml.c5.xlarge"]
    assert calls.index("DeregisterScalableTarget") < calls.index("UpdateEndpoint")  # refused the other way round


def test_deploy_leaves_the_scaling_alone_when_only_the_model_changes(stubbed):
    """Same instance type: the update is allowed with the variant registered (SageMaker's guide), which keeps it."""
    from deploy import app

    sagemaker = a_live_instance_endpoint(stubbed)
    sagemaker.add_response("update_endpoint", {"EndpointArn": ARN.format("endpoint")})
    stubbed("application-autoscaling")  # nothing may be sent: a call would find no stubbed answer
    assert call(app, load_event("deploy"))["action"] == "update"


def live_config(serverless: bool) -> dict:
    """DescribeEndpointConfig of the configuration the endpoint serves (old-config)."""
    variant = {"VariantName": "AllTraffic", "ModelName": "old-model"}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": 2}
    else:
        variant |= {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    return {
        "EndpointConfigName": "old-config", "EndpointConfigArn": ARN.format("endpoint-config"),
        "CreationTime": datetime.datetime.now(), "ProductionVariants": [variant],
    }  # fmt: skip


@pytest.mark.parametrize("serving_serverless", [True, False])
def test_deploy_replaces_an_endpoint_whose_type_changed(stubbed, monkeypatch, serving_serverless):
    """ServerlessInference flipped since the endpoint was made: SageMaker cannot update across types, so the
    endpoint is deleted and, on the state machine's retry, created again under its name with the new config."""
    from deploy import app

    monkeypatch.setenv("SERVERLESS_INFERENCE", "false" if serving_serverless else "true")
    expect_replacement(
        stubbed("sagemaker"),
        ("describe_endpoint", described_endpoint("InService")),
        ("describe_endpoint_config", live_config(serving_serverless)),
    )
    kind = "instance-based" if serving_serverless else "serverless"
    with pytest.raises(app.EndpointBusy, match=f"cannot be updated to {kind}: deleted, to be created again"):
        call(app, load_event("deploy"))
    assert call(app, load_event("deploy"))["action"] == "create"
