"""The template's Rules: what `sam deploy` refuses before it creates anything, evaluated for sample parameters.

The generated rules must say exactly what the code they stand for says: poll_budget for the 7-day run, SageMaker's
ProvisionedConcurrency <= MaxConcurrency, the regions that have each image. Each is checked over every parameter
combination it enumerates, with the twin's evaluator of the rule functions (local_twin/cfn_rules.py), itself
tested here against the rule functions' documented meaning.
"""

import itertools

import pytest

from common.poll_budget import fits_the_run, phase_seconds
from local_twin import cfn_rules
from local_twin.cloudformation import TemplateError, load_yaml
from local_twin.template import Template
from local_twin.twin import Twin
from scripts import template_rules
from tests.support.paths import ROOT
from tests.support.template_tools import TEMPLATE

# --- the evaluator ---------------------------------------------------------------------------------------------

VALUES = {"Size": "3", "Region": "eu-west-1", "Names": ["a", "b"], "AWS::Region": "us-east-1"}
TRUE, FALSE = {"Fn::Equals": ["x", "x"]}, {"Fn::Equals": ["x", "y"]}


def value(expression):
    return cfn_rules.evaluate(expression, VALUES.__getitem__)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Fn::Equals": [{"Ref": "Size"}, "3"]}, True),
        ({"Fn::Equals": [{"Ref": "Size"}, 3]}, True),  # rule functions compare the text of a Number parameter
        ({"Fn::Equals": [{"Ref": "Size"}, "03"]}, False),
        ({"Fn::Contains": [["1", "2", "3"], {"Ref": "Size"}]}, True),
        ({"Fn::Contains": [["1", "2"], {"Ref": "Size"}]}, False),
        ({"Fn::Contains": [["us-east-1"], {"Ref": "AWS::Region"}]}, True),
        ({"Fn::EachMemberEquals": [{"Ref": "Names"}, "a"]}, False),
        ({"Fn::EachMemberEquals": [["a", "a"], "a"]}, True),
        ({"Fn::EachMemberIn": [{"Ref": "Names"}, ["a", "b", "c"]]}, True),
        ({"Fn::EachMemberIn": [{"Ref": "Names"}, ["a"]]}, False),
        ({"Fn::Not": [TRUE]}, False),
        ({"Fn::And": [TRUE, TRUE]}, True),
        ({"Fn::And": [TRUE, FALSE]}, False),
        ({"Fn::Or": [FALSE, TRUE]}, True),
        ({"Fn::Or": [FALSE, FALSE]}, False),
    ],
)
def test_each_rule_function_means_what_cloudformation_documents(expression, expected):
    assert value(expression) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"Fn::And": [TRUE]}, "Fn::And takes 2 to 10 conditions"),
        ({"Fn::Or": [TRUE] * 11}, "Fn::Or takes 2 to 10 conditions"),
        ({"Fn::Not": [TRUE, TRUE]}, "Fn::Not takes one condition"),
        ({"Fn::And": [TRUE, "true"]}, "must be a condition"),
        ({"Fn::Contains": ["a", {"Ref": "Size"}]}, "takes a list of strings"),
        ({"Fn::RefAll": "AWS::EC2::VPC::Id"}, "not modelled by the twin"),
        ({"Fn::Sub": "${Size}"}, "Fn::Sub is not a rule function"),
    ],
)
def test_a_malformed_or_unmodelled_rule_is_refused_not_guessed(expression, message):
    with pytest.raises(cfn_rules.RuleError, match=message):
        value(expression)


def test_a_rule_whose_condition_is_false_asserts_nothing():
    rules = {
        "Skipped": {"RuleCondition": FALSE, "Assertions": [{"Assert": FALSE, "AssertDescription": "never"}]},
        "Checked": {"Assertions": [{"Assert": TRUE}, {"Assert": FALSE, "AssertDescription": "said"}]},
    }
    assert cfn_rules.refusals(rules, VALUES.__getitem__) == ["Checked: said"]


# --- the template's rules ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules(document) -> dict:
    return document["Rules"]


@pytest.fixture(scope="module")
def defaults(document) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in document["Parameters"].items()}


def refused(rules: dict, parameters: dict[str, str], region: str = "us-east-1") -> list[str]:
    values = parameters | {"AWS::Region": region}
    return cfn_rules.refusals(rules, values.__getitem__)


def test_the_generated_parameter_rules_are_current():
    text = TEMPLATE.read_text()
    assert text == template_rules.regenerated(text), "stale: run `make template-rules`"


def test_the_defaults_and_every_samconfig_profile_pass_the_rules():
    for profile in ("default", "local", "smoke"):
        Template.load(ROOT, profile=profile).check_rules()


def test_the_sam_transform_keeps_the_rules(rules, template):
    assert template.document["Rules"] == rules  # CloudFormation gets them as written


def allowed_values(document: dict, name: str) -> list[str]:
    spec = document["Parameters"][name]
    if "AllowedValues" in spec:
        return [str(option) for option in spec["AllowedValues"]]
    return [str(number) for number in range(int(spec["MinValue"]), int(spec["MaxValue"]) + 1)]


def test_a_run_is_refused_at_deploy_exactly_when_poll_budget_refuses_it(document, rules, defaults):
    """Every MaxRuntimeSeconds x UseSpotInstances x MaxTuningJobs x MaxParallelTuningJobs the parameters allow."""
    disagreements = []
    names = ("MaxRuntimeSeconds", "UseSpotInstances", "MaxTuningJobs", "MaxParallelTuningJobs")
    for runtime, spot, jobs, parallel in itertools.product(*(allowed_values(document, name) for name in names)):
        parameters = defaults | {"MaxRuntimeSeconds": runtime, "UseSpotInstances": spot, "MaxTuningJobs": jobs,
                                 "MaxParallelTuningJobs": parallel}  # fmt: skip
        fits = fits_the_run(phase_seconds(int(runtime), spot == "true", int(jobs), int(parallel)))
        if fits == bool(refused(rules, parameters)):
            disagreements.append((runtime, spot, jobs, parallel, fits))
    assert not disagreements, f"rules and poll_budget disagree on {len(disagreements)}: {disagreements[:5]}"


def test_some_runs_are_refused_and_the_message_says_what_to_lower(rules, defaults):
    parameters = defaults | {"MaxRuntimeSeconds": "86400", "UseSpotInstances": "true", "MaxTuningJobs": "3",
                             "MaxParallelTuningJobs": "1"}  # fmt: skip
    (message,) = refused(rules, parameters)
    assert message.startswith("RunFitsTheTimeout86400SecondsSpot: ")
    assert "at most 2 waves" in message and "Lower MaxTuningJobs" in message
    (message,) = refused(rules, parameters | {"MaxRuntimeSeconds": "172800"})
    assert message.startswith("RunFitsTheTimeoutSpot: ") and "at most 86400" in message
    assert not refused(rules, parameters | {"MaxParallelTuningJobs": "2"})  # two trials at once: 2 waves fit


@pytest.mark.parametrize(
    ("smaller", "larger", "applies_when_serverless"),
    [
        # SageMaker refuses it for a serverless endpoint only: an instance endpoint ignores both
        ("ServerlessProvisionedConcurrency", "ServerlessMaxConcurrency", "true"),
        # Application Auto Scaling refuses it when ScaleEndpoint registers an instance endpoint
        ("EndpointMinInstances", "EndpointMaxInstances", "false"),
    ],
)
def test_a_lower_bound_above_its_upper_bound_is_refused_at_deploy(
    document, rules, defaults, smaller, larger, applies_when_serverless
):
    wrong = []
    for serverless, maximum, value in itertools.product(
        ("true", "false"), allowed_values(document, larger), allowed_values(document, smaller)
    ):
        parameters = defaults | {"ServerlessInference": serverless, larger: maximum, smaller: value}
        expected = serverless == applies_when_serverless and int(value) > int(maximum)
        if bool(refused(rules, parameters)) != expected:
            wrong.append((serverless, maximum, value))
    assert not wrong, wrong[:5]
    wrongly_set = defaults | {"ServerlessInference": applies_when_serverless, larger: "2", smaller: "3"}
    (message,) = refused(rules, wrongly_set)
    assert f"{larger}=2, {smaller} must be at most 2" in message


def test_regions_are_refused_for_the_images_the_chosen_features_need(document, rules, defaults):
    images = document["Mappings"]["ImageUris"]
    without_rule_image = sorted(region for region, keys in images.items() if "DebuggerRules" not in keys)
    assert without_rule_image, "every mapped region has the rule image: this test would prove nothing"
    for region in [*images, "cn-north-1", "us-gov-west-1", "xx-nowhere-1"]:
        for debugger in ("true", "false"):
            expected = region not in images or (debugger == "true" and region in without_rule_image)
            parameters = defaults | {"DebuggerService": debugger}
            assert bool(refused(rules, parameters, region)) == expected, (region, debugger)


def environment(template: Template, logical_id: str) -> dict:
    return template.resolve(template.resources[logical_id]["Properties"]["Environment"]["Variables"])


def test_a_region_without_the_rule_image_deploys_when_the_debugger_service_is_off(document):
    images = document["Mappings"]["ImageUris"]
    region = next(region for region, keys in images.items() if "DebuggerRules" not in keys)
    template = Template(load_yaml(TEMPLATE), {"DebuggerService": "false"}, "stack", region, ROOT)
    template.check_rules()
    training = environment(template, "StartTrainingFunction")
    assert training["RULE_EVALUATOR_IMAGE_URI"] == ""  # never looked up: a FindInMap on it would fail the deploy
    assert training["TRAINING_IMAGE_URI"] == images[region]["TrainingCpu"]
    switched_on = Template(load_yaml(TEMPLATE), {"DebuggerService": "true"}, "stack", region, ROOT)
    with pytest.raises(TemplateError, match="DebuggerServiceRegion: DebuggerService=true needs"):
        switched_on.check_rules()


def test_the_twin_refuses_what_the_rules_refuse_before_starting_anything(tmp_path):
    with pytest.raises(TemplateError, match="ServerlessProvisionedConcurrency must be at most 1"):
        Twin(
            workdir=tmp_path,
            parameters={"ServerlessInference": "true", "ServerlessMaxConcurrency": "1",
                        "ServerlessProvisionedConcurrency": "2"},
        )  # fmt: skip
    assert not any(tmp_path.iterdir())
