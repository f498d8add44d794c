"""The template's image URIs are sagemaker-core's for the pinned versions, and follow the instance types."""

import logging

import pytest
from sagemaker.core import image_uris as sagemaker_image_uris
from sagemaker.core.debugger import get_rule_container_image_uri

from local_twin.cloudformation import load_yaml
from local_twin.template import Template
from model_code import gpus
from scripts import image_uris
from tests.support.paths import ROOT
from tests.support.template_tools import TEMPLATE

logging.getLogger("sagemaker").setLevel(logging.WARNING)


def test_generated_blocks_match_sagemaker_core():
    text = TEMPLATE.read_text()
    assert text == image_uris.regenerated(text), "stale: run `make image-uris`"


def test_a_deploy_outside_the_mapped_regions_is_refused_with_a_message(document):
    """tests/template/test_rules.py evaluates these rules region by region."""
    images = document["Mappings"]["ImageUris"]
    (assertion,) = document["Rules"]["SupportedRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert regions == sorted(images)
    assert "PyTorch 2.6 training or inference" in assertion["AssertDescription"]
    debugger = document["Rules"]["DebuggerServiceRegion"]
    assert debugger["RuleCondition"] == {"Fn::Equals": [{"Ref": "DebuggerService"}, "true"]}
    (assertion,) = debugger["Assertions"]
    assert assertion["Assert"]["Fn::Contains"][0] == sorted(r for r, keys in images.items() if "DebuggerRules" in keys)
    assert "Debugger rule evaluator" in assertion["AssertDescription"]


def test_the_rule_image_is_mapped_where_sagemaker_core_knows_one_and_pulled_from_there(document):
    for region, keys in document["Mappings"]["ImageUris"].items():
        rule_image = image_uris._rule_image(region)
        assert keys.get("DebuggerRules") == rule_image, region
        assert (rule_image is not None) == any("sagemaker-debugger-rules" in arn for arn in keys["EcrRepositoryArns"])


def resolved(region: str, **parameters: str) -> Template:
    return Template(load_yaml(TEMPLATE), parameters, "stack", region, ROOT)


def environment(template: Template, logical_id: str) -> dict:
    return template.resolve(template.resources[logical_id]["Properties"]["Environment"]["Variables"])


def expected(region: str, scope: str, instance_type: str) -> str:
    return sagemaker_image_uris.retrieve(
        "pytorch",
        region,
        image_uris.FRAMEWORK_VERSION,
        image_uris.PY_VERSION,
        instance_type=instance_type,
        image_scope=scope,
    )


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "af-south-1"])
@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.g4dn.xlarge"])
def test_each_function_gets_the_image_its_instance_type_needs(region, instance_type):
    template = resolved(
        region,
        TuningInstanceType=instance_type,
        TrainingInstanceType=instance_type,
        EndpointInstanceType=instance_type,
        ServerlessInference="false",
        DebuggerService="true",
    )
    assert environment(template, "StartTuningFunction")["TRAINING_IMAGE_URI"] == expected(
        region, "training", instance_type
    )
    training = environment(template, "StartTrainingFunction")
    assert training["TRAINING_IMAGE_URI"] == expected(region, "training", instance_type)
    assert training["RULE_EVALUATOR_IMAGE_URI"] == get_rule_container_image_uri("DebuggerRule", region)
    assert environment(template, "RegisterFunction")["INFERENCE_IMAGE_URI"] == expected(
        region, "inference", instance_type
    )


def test_serverless_endpoints_get_the_cpu_image_whatever_the_instance_type():
    template = resolved("us-east-1", EndpointInstanceType="ml.g4dn.xlarge", ServerlessInference="true")
    image = environment(template, "RegisterFunction")["INFERENCE_IMAGE_URI"]
    assert image == expected("us-east-1", "inference", "ml.m5.large")
    assert "-cpu-" in image


def test_only_commercial_regions_are_mapped():
    regions = set(resolved("us-east-1").mappings["ImageUris"])
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= regions
    assert not {r for r in regions if r.startswith(("cn-", "us-gov-", "us-iso", "eusc-"))}


def test_every_training_instance_type_has_a_gpu_count_and_gpu_types_the_gpu_image(document):
    """model_code/gpus.py decides whether a job is distributed: it must know every type a deploy may choose."""
    allowed = image_uris.instance_types(TEMPLATE.read_text(), image_uris.TRAINING_PARAMETERS)
    assert set(allowed) <= set(gpus.GPUS_PER_INSTANCE), set(allowed) - set(gpus.GPUS_PER_INSTANCE)
    images = document["Mappings"]["InstanceImages"]
    for instance_type in allowed:
        expected = "TrainingGpu" if gpus.gpus_per_instance(instance_type) else "TrainingCpu"
        assert images[instance_type]["TrainingImage"] == expected, instance_type
    assert any(gpus.gpus_per_instance(instance_type) > 1 for instance_type in allowed)  # multi-GPU types are offered
