"""template.yaml as the local twin sees it: the one source of the functions, state machine, rule and API.

The YAML short tags (``!Ref``, ``!Sub``, ...) are read into their long forms, the parameter values come from
one samconfig.toml profile (``[local.deploy.parameters] parameter_overrides``), and the CloudFormation
intrinsics are resolved against the physical names the twin gives each resource.
"""

import json
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_twin import cfn_rules

# The twin's one account, imported wherever the twin or its tests name it: moto's default account
# (moto.core.DEFAULT_ACCOUNT_ID, tested equal; not imported from moto, as `dogbreeds doctor` runs without it).
ACCOUNT_ID = "123456789012"
DEFAULT_CONCURRENCY = 10  # Lambda's concurrency quota of a new account (the twin's bound per function)
PARTITION = "aws"
NO_VALUE = object()  # AWS::NoValue: the key or list item disappears

_TAGS_WITH_NAME = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
}
_FN_TAGS = (
    "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap", "Base64", "GetAZs", "Contains",
)  # fmt: skip


class TemplateError(ValueError):
    """The template uses something the twin cannot resolve (named, with where it was met)."""


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short tags, read into their long ``Fn::`` forms."""


def _construct(tag_key: str) -> Callable[[yaml.Loader, yaml.Node], dict]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag_key == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {tag_key: value}

    return construct


for _tag, _key in _TAGS_WITH_NAME.items():
    _TemplateLoader.add_constructor(f"!{_tag}", _construct(_key))
for _tag in _FN_TAGS:
    _TemplateLoader.add_constructor(f"!{_tag}", _construct(f"Fn::{_tag}"))


def load_yaml(path: Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class Profile:
    """One samconfig.toml profile's deploy parameters, as ``sam deploy --config-env <name>`` reads them."""

    stack_name: str
    parameter_overrides: dict[str, str]


def load_profile(samconfig: Path, profile: str = "local") -> Profile:
    """``[<profile>.deploy.parameters]``: ``stack_name`` and ``parameter_overrides`` (``Key=Value`` string or list)."""
    config = tomllib.loads(Path(samconfig).read_text())
    try:
        parameters = config[profile]["deploy"]["parameters"]
    except KeyError as missing:
        raise TemplateError(f"{samconfig} has no [{profile}.deploy.parameters] section") from missing
    overrides = parameters.get("parameter_overrides", [])
    items = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise TemplateError(f"{samconfig} [{profile}] parameter override {item!r} is not Key=Value")
        values[key] = value
    stack_name = parameters.get("stack_name") or config[profile].get("global", {}).get("parameters", {}).get(
        "stack_name"
    )
    return Profile(stack_name or profile, values)


@dataclass(frozen=True)
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` return for one resource."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


def physical_resource(logical_id: str, resource: dict, stack: str, region: str, name: str | None) -> Physical:
    """The twin's physical identity of a resource, following each type's CloudFormation Ref/GetAtt."""
    kind = resource.get("Type", "")
    base = f"arn:{PARTITION}"
    name = name or f"{stack}-{logical_id}"
    if kind == "AWS::S3::Bucket":
        name = name.lower()
        return Physical(
            name, {"Arn": f"{base}:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com", "BucketName": name}
        )
    if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        return Physical(name, {"Arn": f"{base}:lambda:{region}:{ACCOUNT_ID}:function:{name}"})
    if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
        arn = f"{base}:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
        return Physical(arn, {"Arn": arn, "Name": name})
    if kind == "AWS::SNS::Topic":
        arn = f"{base}:sns:{region}:{ACCOUNT_ID}:{name}"
        return Physical(arn, {"TopicArn": arn, "TopicName": name})
    if kind == "AWS::IAM::Role":
        return Physical(name, {"Arn": f"{base}:iam::{ACCOUNT_ID}:role/{name}", "RoleId": name})
    if kind == "AWS::CloudWatch::Alarm":
        return Physical(name, {"Arn": f"{base}:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"})
    if kind == "AWS::Events::Rule":
        return Physical(name, {"Arn": f"{base}:events:{region}:{ACCOUNT_ID}:rule/{name}"})
    if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
        return Physical(f"{base}:lambda:{region}:{ACCOUNT_ID}:layer:{name}:1")
    if kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
        return Physical(name, {"RootResourceId": "root"})
    if kind == "AWS::Logs::LogGroup":  # Ref: the name; Arn ends with ":*", as CloudFormation's does
        return Physical(name, {"Arn": f"{base}:logs:{region}:{ACCOUNT_ID}:log-group:{name}:*"})
    return Physical(name, {"Arn": f"{base}:{kind.split('::')[1].lower() if '::' in kind else 'unknown'}:::{name}"})


def _check_number(name: str, value: str, spec: dict) -> None:
    """A Number parameter's MinValue and MaxValue, as CloudFormation checks them."""
    try:
        number = float(value)
    except ValueError:
        raise TemplateError(f"parameter {name}={value!r} is not a number") from None
    if "MinValue" in spec and number < float(spec["MinValue"]):
        raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
    if "MaxValue" in spec and number > float(spec["MaxValue"]):
        raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


class Template:
    """A SAM template with its parameters resolved for one stack name and region."""

    def __init__(self, document: dict, parameters: dict[str, str], stack: str, region: str, root: Path):
        self.document = document
        self.stack = stack
        self.region = region
        self.root = Path(root)
        self.resources: dict[str, dict] = document.get("Resources", {})
        self.parameters = self._parameter_values(parameters)
        self.mappings = document.get("Mappings", {})
        self._conditions: dict[str, bool] = {}
        self._physical: dict[str, Physical] = {}

    @classmethod
    def load(
        cls, root: Path, region: str = "us-east-1", profile: str = "local", overrides: dict[str, str] | None = None
    ) -> "Template":
        """The template with one samconfig profile's parameters, then ``overrides`` on top (as
        ``sam deploy --config-env <profile> --parameter-overrides ...`` would)."""
        root = Path(root)
        settings = load_profile(root / "samconfig.toml", profile)
        parameters = settings.parameter_overrides | (overrides or {})
        return cls(load_yaml(root / "template.yaml"), parameters, settings.stack_name, region, root)

    def _parameter_values(self, overrides: dict[str, str]) -> dict[str, Any]:
        declared = self.document.get("Parameters", {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter overrides {unknown} are not declared in the template")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in overrides:
                value: Any = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default and no local override")
            if str(spec.get("Type", "")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                value = [part.strip() for part in str(value).split(",")] if isinstance(value, str) else value
            else:
                value = str(value)
            allowed = spec.get("AllowedValues")
            if allowed and value not in [str(option) for option in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            if spec.get("Type") == "Number":
                _check_number(name, value, spec)
            values[name] = value
        return values

    def failed_rules(self) -> list[str]:
        """``<rule>: <AssertDescription>`` of every assertion of the template's ``Rules`` that refuses these
        parameters in this region (its RuleCondition holding), as `sam deploy` would refuse the stack."""

        def ref(name: str) -> Any:
            if name.startswith("AWS::"):
                return self.pseudo(name)
            if name not in self.parameters:
                raise TemplateError(f"Rules may refer to parameters only, not {name}")
            return self.parameters[name]

        try:
            return cfn_rules.refusals(self.document.get("Rules", {}), ref)
        except cfn_rules.RuleError as error:
            raise TemplateError(f"the template's Rules cannot be evaluated: {error}") from error

    def check_rules(self) -> None:
        """Refuse these parameters as CloudFormation's Rules would, before any resource exists (``sam deploy``)."""
        refused = self.failed_rules()
        if refused:
            raise TemplateError("the template's Rules refuse these parameters: " + " | ".join(refused))

    def instance_types(self) -> list[str]:
        """Every SageMaker instance type the parameters allow (``ml.*`` AllowedValues)."""
        declared = self.document.get("Parameters", {}).values()
        return sorted(
            {str(value) for spec in declared for value in spec.get("AllowedValues", []) if str(value).startswith("ml.")}
        )

    # --- resources -------------------------------------------------------------------------------------------

    def of_type(self, *kinds: str) -> dict[str, dict]:
        """Resources of the given types whose Condition holds (in template order)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") in kinds and self.condition_holds(resource.get("Condition"))
        }

    def physical(self, logical_id: str) -> Physical:
        if logical_id not in self._physical:
            resource = self.resources.get(logical_id)
            if resource is None:
                raise TemplateError(f"no resource {logical_id} in the template")
            properties = resource.get("Properties", {})
            name_key = {
                "AWS::S3::Bucket": "BucketName",
                "AWS::Serverless::Function": "FunctionName",
                "AWS::Serverless::StateMachine": "Name",
                "AWS::SNS::Topic": "TopicName",
                "AWS::IAM::Role": "RoleName",
                "AWS::Events::Rule": "Name",
                "AWS::Serverless::LayerVersion": "LayerName",
                "AWS::Logs::LogGroup": "LogGroupName",
            }.get(resource.get("Type", ""))
            name = self.resolve(properties[name_key]) if name_key and name_key in properties else None
            self._physical[logical_id] = physical_resource(logical_id, resource, self.stack, self.region, name)
        return self._physical[logical_id]

    def globals_for(self, section: str) -> dict:
        return self.document.get("Globals", {}).get(section, {})

    # --- intrinsics ------------------------------------------------------------------------------------------

    def condition_holds(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self._conditions:
            conditions = self.document.get("Conditions", {})
            if name not in conditions:
                raise TemplateError(f"condition {name} is not defined")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack}/twin",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.physical(name).ref

    def get_att(self, logical_id: str, attribute: str) -> str:
        attributes = self.physical(logical_id).attributes
        if attribute not in attributes:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not known to the twin")
        return attributes[attribute]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        variables = {key: self.resolve(value) for key, value in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _function(self, name: str, argument: Any) -> Any:
        resolve = self.resolve
        if name == "Ref":
            return self.ref(argument)
        if name == "Condition":
            return self.condition_holds(argument)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.get_att(logical_id, resolve(attribute))
        if name == "Fn::Join":
            delimiter, items = argument
            return str(resolve(delimiter)).join(str(item) for item in resolve(items))
        if name == "Fn::Select":
            index, items = resolve(argument)
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, text = resolve(argument)
            return text.split(delimiter)
        if name == "Fn::FindInMap":
            mapping, key, attribute = resolve(argument)
            try:
                return self.mappings[mapping][key][attribute]
            except KeyError as missing:
                raise TemplateError(f"Fn::FindInMap {mapping}/{key}/{attribute} is not in Mappings") from missing
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return resolve(when_true if self.condition_holds(condition) else when_false)
        if name == "Fn::Equals":
            left, right = resolve(argument)
            return str(left) == str(right)
        if name == "Fn::Contains":  # a rule function (Rules only)
            options, value = resolve(argument)
            return str(value) in [str(option) for option in options]
        if name == "Fn::Not":
            return not resolve(argument[0])
        if name == "Fn::And":
            return all(resolve(item) for item in argument)
        if name == "Fn::Or":
            return any(resolve(item) for item in argument)
        if name == "Fn::Base64":
            import base64

            return base64.b64encode(str(resolve(argument)).encode()).decode()
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        raise TemplateError(f"intrinsic {name} is not supported by the twin")

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; AWS::NoValue entries are dropped."""
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), *_ = value.items()
                if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                    return self._function(key, argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        return value

    # --- the parts the twin runs -----------------------------------------------------------------------------

    def functions(self) -> dict[str, "FunctionSpec"]:
        defaults = self.globals_for("Function")
        specs = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            properties = resource.get("Properties", {})
            environment = {
                **self.resolve(defaults.get("Environment", {}).get("Variables", {})),
                **self.resolve(properties.get("Environment", {}).get("Variables", {})),
            }
            setting = {key: self.resolve(properties.get(key, defaults.get(key))) for key in _FUNCTION_SETTINGS}
            code_uri = setting["CodeUri"]
            if not isinstance(code_uri, str):
                raise TemplateError(f"{logical_id}: CodeUri must be a local folder for the twin, got {code_uri!r}")
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=self.physical(logical_id).ref,
                arn=self.get_att(logical_id, "Arn"),
                handler=setting["Handler"],
                code_dir=self.root / code_uri,
                runtime=setting["Runtime"] or "python3.11",
                timeout=int(setting["Timeout"] or 3),
                memory=int(setting["MemorySize"] or 128),
                environment={key: str(value) for key, value in environment.items()},
                layers=self.resolve(setting["Layers"] or []),
                concurrency=int(setting["ReservedConcurrentExecutions"] or DEFAULT_CONCURRENCY),
                events=self.resolve(properties.get("Events", {})),
                # Lambda's default group unless LoggingConfig names another
                log_group=self.resolve(setting["LoggingConfig"] or {}).get("LogGroup")
                or f"/aws/lambda/{self.physical(logical_id).ref}",
            )
        return specs

    def log_groups(self) -> dict[str, int | None]:
        """The stack's AWS::Logs::LogGroup resources: name -> RetentionInDays (None: kept forever)."""
        return {
            self.physical(logical_id).ref: resource.get("Properties", {}).get("RetentionInDays")
            for logical_id, resource in self.of_type("AWS::Logs::LogGroup").items()
        }

    # --- IAM: the roles SAM and CloudFormation would create, with their policies as written ------------------

    def roles(self) -> dict[str, "RoleSpec"]:
        """Every role of the stack by logical id: AWS::IAM::Role resources, and the role SAM generates for each
        function and state machine (``<LogicalId>Role``: its ``Policies`` statements, plus what SAM adds for
        the function's logs, tracing and dead-letter queue)."""
        roles = {}
        for logical_id, resource in self.of_type("AWS::IAM::Role").items():
            properties = resource.get("Properties", {})
            if properties.get("ManagedPolicyArns"):
                raise TemplateError(f"{logical_id}: managed policies are not modelled by the twin's IAM")
            policies = {
                policy["PolicyName"]: self.resolve(policy["PolicyDocument"])
                for policy in properties.get("Policies", [])
            }
            physical = self.physical(logical_id)
            trust = self.resolve(properties["AssumeRolePolicyDocument"])
            roles[logical_id] = RoleSpec(physical.ref, physical.attributes["Arn"], policies, trust)
        defaults = self.globals_for("Function")
        for logical_id, resource in self.of_type("AWS::Serverless::Function", *_STATE_MACHINES).items():
            properties = resource.get("Properties", {})
            if "Role" in properties:
                continue  # an explicit role is one of the AWS::IAM::Role resources above
            name = f"{self.stack}-{logical_id}Role"
            policies = self._sam_policies(logical_id, properties.get("Policies", []))
            service = "states.amazonaws.com"
            if resource["Type"] == "AWS::Serverless::Function":
                policies |= self._sam_function_extras(properties, defaults)
                service = "lambda.amazonaws.com"
            trust = _policy({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})
            arn = f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{name}"
            roles[f"{logical_id}Role"] = RoleSpec(name, arn, policies, trust)
        return roles

    def role_of(self, logical_id: str) -> "RoleSpec":
        """The role a function or state machine runs as."""
        role = self.resources[logical_id].get("Properties", {}).get("Role")
        if role is None:
            return self.roles()[f"{logical_id}Role"]
        arn = self.resolve(role)
        return next(spec for spec in self.roles().values() if spec.arn == arn)

    def _sam_policies(self, logical_id: str, policies) -> dict[str, dict]:
        documents = {}
        for index, policy in enumerate(policies if isinstance(policies, list) else [policies]):
            if not (isinstance(policy, dict) and "Statement" in policy):
                raise TemplateError(
                    f"{logical_id}: only inline policy statements are modelled by the twin's IAM, got {policy!r}"
                )
            documents[f"{logical_id}RolePolicy{index}"] = {"Version": "2012-10-17", **self.resolve(policy)}
        return documents

    def _sam_function_extras(self, properties: dict, defaults: dict) -> dict[str, dict]:
        """What SAM attaches to every function's generated role beside its Policies."""
        extras = {"AWSLambdaBasicExecutionRole": _policy(_LOGS_STATEMENT)}
        if self.resolve(properties.get("Tracing", defaults.get("Tracing"))) == "Active":
            extras["AWSXrayWriteOnlyAccess"] = _policy(_XRAY_STATEMENT)
        dead_letters = self.resolve(properties.get("DeadLetterQueue"))
        if dead_letters:
            action = "sqs:SendMessage" if dead_letters["Type"] == "SQS" else "sns:Publish"
            extras["DeadLetterQueuePolicy"] = _policy(
                {"Effect": "Allow", "Action": action, "Resource": dead_letters["TargetArn"]}
            )
        return extras

    def state_machine(self) -> "StateMachineSpec":
        (logical_id, resource), *others = self.of_type("AWS::Serverless::StateMachine").items()
        if others:
            raise TemplateError("the twin runs one state machine; the template declares several")
        properties = resource["Properties"]
        substitutions = {
            key: str(value) for key, value in self.resolve(properties.get("DefinitionSubstitutions", {})).items()
        }
        definition = (self.root / properties["DefinitionUri"]).read_text()
        return StateMachineSpec(
            logical_id=logical_id,
            name=self.physical(logical_id).attributes["Name"],
            definition=substitute_definition(definition, substitutions),
        )

    def bucket(self) -> "BucketSpec":
        buckets = self.of_type("AWS::S3::Bucket")
        if len(buckets) != 1:
            raise TemplateError(f"the twin expects one S3 bucket in the template, found {sorted(buckets)}")
        logical_id, resource = next(iter(buckets.items()))
        properties = resource.get("Properties", {})
        notifications = self.resolve(properties.get("NotificationConfiguration", {}))
        versioning = self.resolve(properties.get("VersioningConfiguration", {}))
        return BucketSpec(
            logical_id,
            self.physical(logical_id).ref,
            eventbridge_enabled="EventBridgeConfiguration" in notifications,
            versioned=versioning.get("Status") == "Enabled",
        )

    def layer_content(self, layer_arn: str) -> Path:
        """The ContentUri folder of the layer a function names by ARN (the layer ships it as a package under
        /opt/python, docs/architecture.md)."""
        for logical_id, layer in self.of_type("AWS::Serverless::LayerVersion").items():
            if self.physical(logical_id).ref == layer_arn:
                return (self.root / self.resolve(layer["Properties"]["ContentUri"])).resolve()
        raise TemplateError(f"no layer of the template has the ARN {layer_arn}")

    def topics(self) -> dict[str, str]:
        return {logical_id: self.physical(logical_id).ref for logical_id in self.of_type("AWS::SNS::Topic")}

    def rules(self) -> list["RuleSpec"]:
        """EventBridge rules: AWS::Events::Rule resources and functions' EventBridgeRule events."""
        rules = []
        for logical_id, resource in self.of_type("AWS::Events::Rule").items():
            properties = self.resolve(resource["Properties"])
            rules.append(
                RuleSpec(
                    self.physical(logical_id).ref, properties["EventPattern"], [t["Arn"] for t in properties["Targets"]]
                )
            )
        targets = {function.logical_id: function.arn for function in self.functions().values()}
        targets |= {logical_id: self.get_att(logical_id, "Arn") for logical_id in self.of_type(*_STATE_MACHINES)}
        for logical_id, arn in targets.items():
            events = self.resolve(self.resources[logical_id].get("Properties", {}).get("Events", {}))
            for event_id, event in events.items():
                if event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                    name = f"{self.stack}-{logical_id}-{event_id}"
                    rules.append(RuleSpec(name, event["Properties"]["Pattern"], [arn]))
        return rules

    def upload_rules(self) -> list["RuleSpec"]:
        """The rules S3 uploads fire (source aws.s3), among all the template's rules."""
        return [rule for rule in self.rules() if "aws.s3" in rule.pattern.get("source", [])]

    def api(self) -> "ApiSpec":
        """The REST API: routes from the functions' Api events, binary types and API-key need from the Api."""
        apis = self.of_type("AWS::Serverless::Api")
        api_defaults = self.globals_for("Api")
        api_properties = {**api_defaults, **next(iter(apis.values()), {}).get("Properties", {})}
        api_properties = self.resolve(api_properties)
        api_auth = api_properties.get("Auth", {})
        routes = []
        for function in self.functions().values():
            for event in function.events.values():
                if event.get("Type") != "Api":
                    continue
                properties = event["Properties"]
                key_required = properties.get("Auth", {}).get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))
                routes.append(
                    Route(
                        path=properties["Path"],
                        method=properties["Method"].upper(),
                        function=function.logical_id,
                        api_key_required=bool(key_required),
                    )
                )
        return ApiSpec(
            stage=str(api_properties.get("StageName", "Prod")),
            binary_media_types=[media.replace("~1", "/") for media in api_properties.get("BinaryMediaTypes", [])],
            routes=routes,
            cors_headers=_preflight_headers(api_properties.get("Cors")),
            usage_plan=_usage_plan(api_auth.get("UsagePlan")),
        )


def _usage_plan(plan: dict | None) -> "UsagePlan | None":
    if not plan or plan.get("CreateUsagePlan", "NONE") == "NONE" or "Throttle" not in plan:
        return None
    quota = plan.get("Quota", {})
    if quota and quota.get("Period", "DAY") != "DAY":
        raise ValueError(f"the twin counts usage-plan quotas per DAY, not per {quota['Period']}")
    return UsagePlan(
        rate_limit=float(plan["Throttle"]["RateLimit"]),
        burst_limit=int(plan["Throttle"]["BurstLimit"]),
        quota_limit=int(quota["Limit"]) if "Limit" in quota else None,
    )


def _preflight_headers(cors) -> dict[str, str] | None:
    """SAM's Api ``Cors`` (values are quoted string literals, "'*'") as the preflight's response headers."""
    if cors is None:
        return None
    if isinstance(cors, str):
        cors = {"AllowOrigin": cors}
    names = {
        "AllowOrigin": "Access-Control-Allow-Origin",
        "AllowMethods": "Access-Control-Allow-Methods",
        "AllowHeaders": "Access-Control-Allow-Headers",
        "MaxAge": "Access-Control-Max-Age",
    }
    return {header: str(cors[key]).strip("'") for key, header in names.items() if key in cors}


_STATE_MACHINES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_FUNCTION_SETTINGS = (
    "Handler", "CodeUri", "Runtime", "Timeout", "MemorySize", "Layers", "ReservedConcurrentExecutions", "LoggingConfig",
)  # fmt: skip


def substitute_definition(definition: str, substitutions: dict[str, str]) -> str:
    """SAM's DefinitionSubstitutions: every ``${Key}`` replaced; a placeholder without a value is an error."""
    placeholders = set(re.findall(r"\$\{([^}]+)\}", definition))
    missing = sorted(placeholders - set(substitutions))
    if missing:
        raise TemplateError(f"DefinitionSubstitutions lacks {missing}")
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", value)
    json.loads(definition)  # a broken definition fails here, not inside the Step Functions engine
    return definition


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, str]
    layers: list[str]
    events: dict[str, dict]
    concurrency: int = DEFAULT_CONCURRENCY  # ReservedConcurrentExecutions, else a new account's quota
    log_group: str = ""  # where Lambda sends the function's logs (AWS_LAMBDA_LOG_GROUP_NAME)


_LOGS_STATEMENT = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}
_XRAY_STATEMENT = {
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
    "Resource": "*",
}


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    arn: str
    policies: dict[str, dict]  # policy name -> document, intrinsics resolved
    trust: dict  # AssumeRolePolicyDocument: who may assume it


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    definition: str


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    eventbridge_enabled: bool
    versioned: bool


@dataclass(frozen=True)
class RuleSpec:
    name: str
    pattern: dict
    target_arns: list[str]

    @property
    def upload_prefix(self) -> str:
        """The key prefix an upload needs to trigger the rule (its ``detail.object.key`` filter)."""
        for condition in self.pattern.get("detail", {}).get("object", {}).get("key", []):
            if isinstance(condition, dict) and "prefix" in condition:
                return condition["prefix"]
            if isinstance(condition, dict) and "wildcard" in condition:
                return condition["wildcard"].split("*", 1)[0]
        return ""


@dataclass(frozen=True)
class Route:
    path: str
    method: str  # GET, POST, ... or ANY
    function: str  # logical id
    api_key_required: bool


@dataclass(frozen=True)
class UsagePlan:
    """The API key's usage plan (SAM's Auth UsagePlan): throttle and quota."""

    rate_limit: float  # requests per second, steady
    burst_limit: int
    quota_limit: int | None = None  # requests per day


@dataclass(frozen=True)
class ApiSpec:
    stage: str
    binary_media_types: list[str]
    routes: list[Route]
    cors_headers: dict[str, str] | None = None  # what API Gateway's preflight answers, when Cors is set
    usage_plan: UsagePlan | None = None
