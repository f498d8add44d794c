"""The template reader: short tags, intrinsics, conditions, parameters from the samconfig profile, and the parts
the twin runs read from SAM's own transform of the template."""

import json
import textwrap
from pathlib import Path

import pytest

from local_twin.account import ACCOUNT_ID
from local_twin.cloudformation import Stack, TemplateError, load_yaml
from local_twin.samconfig import Profile, SamConfigError, load_profile
from local_twin.template import RuleSpec, Template, UsagePlan, substitute_definition

TEMPLATE = textwrap.dedent(
    """
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
      MaxJobs: {Type: Number, Default: 20}
      Names: {Type: CommaDelimitedList, Default: "a,b"}
    Mappings:
      Sizes: {dev: {Instance: ml.m5.large}, prod: {Instance: ml.g4dn.xlarge}}
    Conditions:
      IsProd: !Equals [!Ref Stage, prod]
      IsDev: !Not [!Condition IsProd]
      Both: !And [!Condition IsDev, !Equals [!Ref MaxJobs, "2"]]
      Either: !Or [!Condition IsProd, !Equals [x, y]]
    Globals:
      Function:
        Runtime: python3.11
        CodeUri: functions/
        Timeout: 30
        Environment:
          Variables:
            BUCKET: !Ref DataBucket
            STAGE: !Ref Stage
    Resources:
      DataBucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Sub "${AWS::StackName}-data-${AWS::AccountId}-${AWS::Region}"
          NotificationConfiguration: {EventBridgeConfiguration: {EventBridgeEnabled: true}}
          VersioningConfiguration: {Status: Enabled}
      FailureTopic: {Type: AWS::SNS::Topic}
      CodeLayer: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: lib/shared_code/}}
      ProdOnly: {Type: AWS::SNS::Topic, Condition: IsProd}
      StepFunction:
        Type: AWS::Serverless::Function
        Properties:
          Handler: step.app.lambda_handler
          Timeout: 60
          Layers: [!Ref CodeLayer]
          Environment:
            Variables:
              TOPIC: !Ref FailureTopic
              INSTANCE: !FindInMap [Sizes, !Ref Stage, Instance]
              JOINED: !Join ["-", [!Select [1, !Ref Names], !Select [0, !Split [",", "p,q"]]]]
              MAYBE: !If [IsProd, yes-prod, !Ref AWS::NoValue]
              BOTH: !If [Both, both, neither]
              EITHER: !If [Either, one, none]
              ARN: !GetAtt DataBucket.Arn
              LITERAL: !Sub ["${!NotAVariable}-${Extra}", {Extra: !Ref Stage}]
          Events:
            Upload:
              Type: EventBridgeRule
              Properties:
                Pattern:
                  source: [aws.s3]
                  detail:
                    bucket: {name: [!Ref DataBucket]}
                    object: {key: [{prefix: datasets/}]}
      PredictFunction:
        Type: AWS::Serverless::Function
        Properties:
          Handler: predict.app.lambda_handler
          Events:
            Post:
              Type: Api
              Properties: {Path: /predict, Method: post, RestApiId: !Ref PredictApi}
      PredictApi:
        Type: AWS::Serverless::Api
        Properties:
          StageName: v1
          BinaryMediaTypes: [image~1jpeg, "image/*"]
          Auth: {ApiKeyRequired: true}
      Machine:
        Type: AWS::Serverless::StateMachine
        Properties:
          DefinitionUri: machine.asl.json
          DefinitionSubstitutions:
            StepFunctionArn: !GetAtt StepFunction.Arn
          Events:
            Nightly:
              Type: EventBridgeRule
              Properties:
                Pattern: {source: [aws.scheduler]}
    """
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "samconfig.toml").write_text(
        '[local.deploy.parameters]\nstack_name = "twin"\nparameter_overrides = "MaxJobs=2 Names=\\"x,y\\""\n'
    )
    (tmp_path / "machine.asl.json").write_text(
        json.dumps(
            {"StartAt": "Step", "States": {"Step": {"Type": "Task", "Resource": "${StepFunctionArn}", "End": True}}}
        )
    )
    return tmp_path


def test_short_tags_read_into_long_forms(project):
    document = load_yaml(project / "template.yaml")
    condition = document["Conditions"]["IsProd"]
    assert condition == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert document["Resources"]["StepFunction"]["Properties"]["Environment"]["Variables"]["ARN"] == {
        "Fn::GetAtt": ["DataBucket", "Arn"]
    }


def test_parameter_overrides_from_the_local_profile(project):
    assert load_profile(project / "samconfig.toml") == Profile("twin", {"MaxJobs": "2", "Names": "x,y"})
    with pytest.raises(SamConfigError, match=r"\[prod.deploy.parameters\]"):
        load_profile(project / "samconfig.toml", profile="prod")


def test_function_environment_resolves_every_intrinsic(project):
    template = Template.load(project, region="eu-west-1")
    step = template.functions()["StepFunction"]
    bucket = f"twin-data-{ACCOUNT_ID}-eu-west-1"
    assert step.environment == {
        "BUCKET": bucket,
        "STAGE": "dev",
        "TOPIC": f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:twin-FailureTopic",
        "INSTANCE": "ml.m5.large",
        "JOINED": "y-p",
        "BOTH": "both",
        "EITHER": "none",
        "ARN": f"arn:aws:s3:::{bucket}",
        "LITERAL": "${NotAVariable}-dev",
    }
    assert step.handler == "step.app.lambda_handler"
    assert step.code_dir == project / "functions/"
    assert (step.timeout, step.runtime) == (60, "python3.11")
    assert step.arn == f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:twin-StepFunction"


def test_a_layer_is_found_by_the_arn_functions_name_it_by(project):
    template = Template.load(project)
    (layer_arn,) = template.functions()["StepFunction"].layers  # its Layers: [!Ref CodeLayer], as SAM rewrote it
    assert layer_arn == "arn:aws:lambda:us-east-1:123456789012:layer:CodeLayer:1"  # SAM names a layer by its id
    assert template.layer_content(layer_arn) == (project / "lib/shared_code").resolve()
    with pytest.raises(TemplateError, match="no layer of the template"):
        template.layer_content(f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:layer:elsewhere:1")


def test_conditions_drop_resources(project):
    template = Template.load(project)
    assert list(template.topics()) == ["FailureTopic"]


def test_state_machine_definition_gets_its_substitutions(project):
    machine = Template.load(project).state_machine()
    resource = json.loads(machine.definition)["States"]["Step"]["Resource"]
    assert resource == f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:twin-StepFunction"


def test_missing_substitution_is_named():
    with pytest.raises(TemplateError, match=r"\['OtherArn'\]"):
        substitute_definition('{"Resource": "${OtherArn}"}', {})


def test_rules_and_api_come_from_function_events(project):
    template = Template.load(project)
    rule, machine_rule = template.rules()
    assert rule.name == "twin-StepFunctionUpload"  # SAM's <Function><Event>, in the stack's name
    assert rule.pattern["detail"]["bucket"]["name"] == [template.bucket().name]
    assert rule.target_arns == [template.functions()["StepFunction"].arn]
    assert machine_rule.target_arns == [f"arn:aws:states:us-east-1:{ACCOUNT_ID}:stateMachine:twin-Machine"]
    api = template.api()
    assert api.binary_media_types == ["image/jpeg", "image/*"]
    assert (api.stage, api.name) == ("v1", "twin")  # SAM names the API after the stack (its OpenAPI title)
    (route,) = api.routes
    assert (route.path, route.method, route.function, route.api_key_required) == (
        "/predict",
        "POST",
        "PredictFunction",
        True,
    )
    assert template.bucket().eventbridge_enabled
    assert template.bucket().versioned


def test_unknown_parameter_override_is_rejected(project):
    (project / "samconfig.toml").write_text('[local.deploy.parameters]\nparameter_overrides = ["Nope=1"]\n')
    with pytest.raises(TemplateError, match="Nope"):
        Template.load(project)


def test_disallowed_value_is_rejected(project):
    (project / "samconfig.toml").write_text('[local.deploy.parameters]\nparameter_overrides = ["Stage=qa"]\n')
    with pytest.raises(TemplateError, match="Stage='qa'"):
        Template.load(project)


def test_upload_prefix_from_the_rule_pattern():
    def prefix(pattern: dict) -> str:
        return RuleSpec("rule", pattern, []).upload_prefix

    assert prefix({"detail": {"object": {"key": [{"prefix": "datasets/"}, {"suffix": ".zip"}]}}}) == "datasets/"
    assert prefix({"detail": {"object": {"key": [{"wildcard": "uploads/*.zip"}]}}}) == "uploads/"
    assert prefix({"source": ["aws.s3"]}) == ""


def test_the_usage_plan_of_the_real_template_is_read_with_the_profiles_values():
    parameters = {"ApiThrottleRateLimit": "3", "ApiThrottleBurstLimit": "4", "ApiDailyQuota": "99"}
    plan = Template.load(Path(__file__).resolve().parents[2], overrides=parameters).api().usage_plan
    assert plan == UsagePlan(rate_limit=3.0, burst_limit=4, quota_limit=99)


RULES = textwrap.dedent(
    """
    Parameters:
      Kind: {Type: String, Default: cpu, AllowedValues: [cpu, gpu]}
      Instance: {Type: String, Default: ml.m5.large, AllowedValues: [ml.m5.large, ml.g4dn.xlarge]}
      Endpoint: {Type: String, Default: ml.t2.medium, AllowedValues: [ml.t2.medium]}
    Rules:
      SupportedRegion:
        Assertions:
          - Assert: {"Fn::Contains": [[us-east-1, eu-west-1], {Ref: "AWS::Region"}]}
            AssertDescription: not in this region
      GpuNeedsGpuInstance:
        RuleCondition: !Equals [!Ref Kind, gpu]
        Assertions:
          - Assert: !Contains [[ml.g4dn.xlarge], !Ref Instance]
            AssertDescription: a GPU run needs a GPU instance
    Resources: {}
    """
)


@pytest.mark.parametrize(
    ("region", "overrides", "failed"),
    [
        ("us-east-1", {}, []),
        ("ap-south-2", {}, ["SupportedRegion: not in this region"]),
        ("eu-west-1", {"Kind": "gpu"}, ["GpuNeedsGpuInstance: a GPU run needs a GPU instance"]),  # condition holds
        ("eu-west-1", {"Kind": "gpu", "Instance": "ml.g4dn.xlarge"}, []),
    ],
)
def test_rules_are_evaluated_as_cloudformation_would_at_deploy(tmp_path, region, overrides, failed):
    (tmp_path / "template.yaml").write_text(RULES)
    stack = Stack(load_yaml(tmp_path / "template.yaml"), overrides, "stack", region)
    assert stack.failed_rules() == failed
    assert stack.instance_types() == ["ml.g4dn.xlarge", "ml.m5.large", "ml.t2.medium"]


def test_a_template_sam_refuses_is_refused_with_sams_reason(project):
    text = (project / "template.yaml").read_text()
    (project / "template.yaml").write_text(text.replace("{Path: /predict, Method: post,", "{Method: post,"))
    with pytest.raises(TemplateError, match=r"SAM's transform refuses the template: .*PredictFunction.*Path"):
        Template.load(project)


def test_the_twin_s_account_is_moto_s_default_account():
    """moto files every resource under its default account; the twin's ARNs (and IAM's) must name the same."""
    from moto.core import DEFAULT_ACCOUNT_ID

    assert ACCOUNT_ID == DEFAULT_ACCOUNT_ID
