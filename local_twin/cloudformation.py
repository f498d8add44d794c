"""A CloudFormation template as CloudFormation evaluates it for one stack: parameters, conditions, Rules, intrinsics.

What CloudFormation itself does with a template, and nothing of SAM's (sam_transform.py runs SAM's own transform
first): the YAML short tags (``!Ref``, ``!Sub``, ...) read into their long forms; the parameter values checked
(declared, ``AllowedValues``, a Number's ``MinValue``/``MaxValue``) and the ``Rules`` evaluated (cfn_rules.py), as
``sam deploy`` would refuse them before any resource exists; conditions; ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``, ``Fn::If``/``Equals``/``Not``/``And``/``Or``,
``Fn::Base64``, ``Fn::GetAZs``, ``AWS::NoValue`` and the pseudo parameters, against the physical names the twin
gives each resource (``<stack>-<LogicalId>`` unless the template names it). Needs PyYAML only: ``dogbreeds doctor``
reads the parameters and Rules with it from an installed wheel.
"""

import base64
import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_twin import cfn_rules
from local_twin.account import ACCOUNT_ID, PARTITION

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
    """The template uses something the twin cannot resolve, or CloudFormation would refuse (named, with where)."""


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML's safe loader (libyaml's when there) plus CloudFormation's short tags, read into their long forms."""


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
    """The template at ``path`` (a copy the caller may change)."""
    path = Path(path).resolve()
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict:  # the file's version is the cache key
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a safe loader's subclass


@dataclass(frozen=True)
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` return for one resource."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


# The property that names a resource when the template names it (otherwise the twin's ``<stack>-<LogicalId>``).
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::ApiGateway::Stage": "StageName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
}


def physical_resource(kind: str, name: str, region: str) -> Physical:
    """A resource's Ref and attributes, following each type's CloudFormation reference (its return values)."""
    base = f"arn:{PARTITION}"
    if kind == "AWS::S3::Bucket":
        name = name.lower()
        return Physical(
            name, {"Arn": f"{base}:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com", "BucketName": name}
        )
    if kind == "AWS::Lambda::Function":
        return Physical(name, {"Arn": f"{base}:lambda:{region}:{ACCOUNT_ID}:function:{name}"})
    if kind == "AWS::StepFunctions::StateMachine":
        arn = f"{base}:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
        return Physical(arn, {"Arn": arn, "Name": name})
    if kind == "AWS::SNS::Topic":
        arn = f"{base}:sns:{region}:{ACCOUNT_ID}:{name}"
        return Physical(arn, {"TopicArn": arn, "TopicName": name})
    if kind == "AWS::SQS::Queue":  # Ref: the queue's URL
        arn = f"{base}:sqs:{region}:{ACCOUNT_ID}:{name}"
        return Physical(f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{name}", {"Arn": arn, "QueueName": name})
    if kind == "AWS::IAM::Role":
        return Physical(name, {"Arn": f"{base}:iam::{ACCOUNT_ID}:role/{name}", "RoleId": name})
    if kind == "AWS::CloudWatch::Alarm":
        return Physical(name, {"Arn": f"{base}:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"})
    if kind == "AWS::Events::Rule":
        return Physical(name, {"Arn": f"{base}:events:{region}:{ACCOUNT_ID}:rule/{name}"})
    if kind == "AWS::Lambda::LayerVersion":  # Ref: the version's ARN
        return Physical(f"{base}:lambda:{region}:{ACCOUNT_ID}:layer:{name}:1")
    if kind == "AWS::ApiGateway::RestApi":
        return Physical(name, {"RootResourceId": "root"})
    if kind == "AWS::SageMaker::ModelPackageGroup":  # Ref: the group's ARN (SageMaker's ARNs name it in lower case)
        arn = f"{base}:sagemaker:{region}:{ACCOUNT_ID}:model-package-group/{name.lower()}"
        return Physical(arn, {"ModelPackageGroupArn": arn})
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


def parameter_values(declared: dict, overrides: dict[str, str]) -> dict[str, Any]:
    """Each declared parameter's value (the override, else its Default), checked as CloudFormation checks it; list
    types as lists."""
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
            raise TemplateError(f"parameter {name} has no Default and no override")
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


class Stack:
    """A CloudFormation template with its parameters resolved for one stack name and region."""

    def __init__(self, document: dict, parameters: dict[str, str], stack_name: str, region: str):
        self.document = document
        self.stack_name = stack_name
        self.region = region
        self.resources: dict[str, dict] = document.get("Resources", {})
        self.parameters = parameter_values(document.get("Parameters", {}), parameters)
        self.mappings = document.get("Mappings", {})
        self._conditions: dict[str, bool] = {}
        self._physical: dict[str, Physical] = {}

    # --- what CloudFormation checks before it creates anything ------------------------------------------------

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
            kind = resource.get("Type", "")
            name_key = NAME_PROPERTIES.get(kind)
            properties = resource.get("Properties", {})
            name = self.resolve(properties[name_key]) if name_key in properties else f"{self.stack_name}-{logical_id}"
            self._physical[logical_id] = physical_resource(kind, name, self.region)
        return self._physical[logical_id]

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
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/twin",
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
        if name == "Fn::Not":
            return not resolve(argument[0])
        if name == "Fn::And":
            return all(resolve(item) for item in argument)
        if name == "Fn::Or":
            return any(resolve(item) for item in argument)
        if name == "Fn::Base64":
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
