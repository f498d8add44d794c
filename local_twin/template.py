"""template.yaml as the twin provisions it: SAM's own transform of it (sam_transform.py), read as the CloudFormation
stack it is (cloudformation.py) for one samconfig.toml profile (samconfig.py).

What remains here is what the twin makes of each CloudFormation resource: the functions (AWS::Lambda::Function
with the role SAM generated), the roles (AWS::IAM::Role: inline and managed policies, trust), the state machine
(AWS::StepFunctions::StateMachine: its definition with DefinitionSubstitutions applied), the EventBridge rules
(AWS::Events::Rule), the REST API (AWS::ApiGateway::RestApi: routes, binary media types and API-key security from
its OpenAPI body; the stage; the usage plan's throttle and quota), topics, the bucket, log groups, layers and the
model package groups (AWS::SageMaker::ModelPackageGroup).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_twin import cloudformation, sam_transform, samconfig
from local_twin.cloudformation import TemplateError
from local_twin.lambda_runtime import DEFAULT_CONCURRENCY


class Template(cloudformation.Stack):
    """A SAM template transformed by SAM, with its parameters resolved for one stack name and region."""

    def __init__(self, document: dict, parameters: dict[str, str], stack_name: str, region: str, root: Path):
        if sam_transform.declares_sam(document):
            checked = cloudformation.parameter_values(document.get("Parameters", {}), parameters)  # before SAM
            document = sam_transform.transform(document, checked, region)
        super().__init__(document, parameters, stack_name, region)
        self.root = Path(root)

    @classmethod
    def load(
        cls, root: Path, region: str = "us-east-1", profile: str = "local", overrides: dict[str, str] | None = None
    ) -> "Template":
        """The template with one samconfig profile's parameters, then ``overrides`` on top (as
        ``sam deploy --config-env <profile> --parameter-overrides ...`` would)."""
        root = Path(root)
        settings = samconfig.load_profile(root / "samconfig.toml", profile)
        parameters = settings.parameter_overrides | (overrides or {})
        return cls(cloudformation.load_yaml(root / "template.yaml"), parameters, settings.stack_name, region, root)

    def _artifact(self, bucket: Any, key: Any) -> Path:
        return sam_transform.local_path(self.root, self.resolve(bucket), self.resolve(key))

    # --- the parts the twin runs -----------------------------------------------------------------------------

    def functions(self) -> dict[str, "FunctionSpec"]:
        specs = {}
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            properties = self.resolve(resource["Properties"])
            code = properties["Code"]
            if "S3Key" not in code:
                raise TemplateError(f"{logical_id}: the twin runs code from a local folder (CodeUri), got {code!r}")
            name = self.physical(logical_id).ref
            variables = properties.get("Environment", {}).get("Variables", {})
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=self.get_att(logical_id, "Arn"),
                handler=properties["Handler"],
                code_dir=self._artifact(code["S3Bucket"], code["S3Key"]),
                runtime=properties["Runtime"],  # a zip-packaged function must name one
                timeout=int(properties.get("Timeout", 3)),  # Lambda's defaults
                memory=int(properties.get("MemorySize", 128)),
                environment={key: str(value) for key, value in variables.items()},
                layers=properties.get("Layers", []),
                concurrency=int(properties.get("ReservedConcurrentExecutions", DEFAULT_CONCURRENCY)),
                # Lambda's default group unless LoggingConfig names another
                log_group=properties.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}",
            )
        return specs

    def log_groups(self) -> dict[str, int | None]:
        """The stack's AWS::Logs::LogGroup resources: name -> RetentionInDays (None: kept forever)."""
        return {
            self.physical(logical_id).ref: resource.get("Properties", {}).get("RetentionInDays")
            for logical_id, resource in self.of_type("AWS::Logs::LogGroup").items()
        }

    def roles(self) -> dict[str, "RoleSpec"]:
        """Every role of the stack by logical id, those SAM generated for the functions and the state machine
        included (``<LogicalId>Role``: the Policies as inline policies, SAM's managed policies by ARN)."""
        roles = {}
        for logical_id, resource in self.of_type("AWS::IAM::Role").items():
            properties = self.resolve(resource["Properties"])
            physical = self.physical(logical_id)
            roles[logical_id] = RoleSpec(
                name=physical.ref,
                arn=physical.attributes["Arn"],
                policies={
                    policy["PolicyName"]: {"Version": "2012-10-17", **policy["PolicyDocument"]}
                    for policy in properties.get("Policies", [])
                },
                managed_policy_arns=properties.get("ManagedPolicyArns", []),
                trust=properties["AssumeRolePolicyDocument"],
            )
        return roles

    def role_of(self, logical_id: str) -> "RoleSpec":
        """The role a function (``Role``) or a state machine (``RoleArn``) runs as."""
        properties = self.resources[logical_id]["Properties"]
        arn = self.resolve(properties.get("Role") or properties["RoleArn"])
        return next(role for role in self.roles().values() if role.arn == arn)

    def state_machine(self) -> "StateMachineSpec":
        machines = self.of_type("AWS::StepFunctions::StateMachine")
        if len(machines) != 1:
            raise TemplateError(f"the twin runs one state machine; the template declares {sorted(machines)}")
        ((logical_id, resource),) = machines.items()
        properties = resource["Properties"]
        if "DefinitionS3Location" in properties:
            location = properties["DefinitionS3Location"]
            definition = self._artifact(location["Bucket"], location["Key"]).read_text()
        elif "Definition" in properties:
            definition = json.dumps(self.resolve(properties["Definition"]))
        else:
            definition = self.resolve(properties["DefinitionString"])
        substitutions = {
            key: str(value) for key, value in self.resolve(properties.get("DefinitionSubstitutions", {})).items()
        }
        return StateMachineSpec(
            logical_id=logical_id,
            name=self.get_att(logical_id, "Name"),
            definition=substitute_definition(definition, substitutions),
        )

    def bucket(self) -> "BucketSpec":
        buckets = self.of_type("AWS::S3::Bucket")
        if len(buckets) != 1:
            raise TemplateError(f"the twin expects one S3 bucket in the template, found {sorted(buckets)}")
        ((logical_id, resource),) = buckets.items()
        properties = self.resolve(resource.get("Properties", {}))
        eventbridge = properties.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
        return BucketSpec(
            logical_id,
            self.physical(logical_id).ref,
            eventbridge_enabled=str(eventbridge.get("EventBridgeEnabled", False)).lower() == "true",
            versioned=properties.get("VersioningConfiguration", {}).get("Status") == "Enabled",
        )

    def layer_content(self, layer_arn: str) -> Path:
        """The local folder of the layer a function names by ARN (the layer ships it as a package under
        /opt/python, docs/architecture.md)."""
        for logical_id, layer in self.of_type("AWS::Lambda::LayerVersion").items():
            if self.physical(logical_id).ref == layer_arn:
                content = layer["Properties"]["Content"]
                return self._artifact(content["S3Bucket"], content["S3Key"]).resolve()
        raise TemplateError(f"no layer of the template has the ARN {layer_arn}")

    def model_package_groups(self) -> dict[str, dict]:
        """The SageMaker model package groups (AWS::SageMaker::ModelPackageGroup): logical id -> resolved
        properties."""
        return {
            logical_id: self.resolve(resource["Properties"])
            for logical_id, resource in self.of_type("AWS::SageMaker::ModelPackageGroup").items()
        }

    def topics(self) -> dict[str, str]:
        return {logical_id: self.physical(logical_id).ref for logical_id in self.of_type("AWS::SNS::Topic")}

    def rules(self) -> list["RuleSpec"]:
        """The EventBridge rules (AWS::Events::Rule: those written and those SAM made of EventBridgeRule events)."""
        rules = []
        for logical_id, resource in self.of_type("AWS::Events::Rule").items():
            properties = self.resolve(resource["Properties"])
            targets = [target["Arn"] for target in properties.get("Targets", [])]
            rules.append(RuleSpec(self.physical(logical_id).ref, properties["EventPattern"], targets))
        return rules

    def upload_rules(self) -> list["RuleSpec"]:
        """The rules S3 uploads fire (source aws.s3), among all the template's rules."""
        return [rule for rule in self.rules() if "aws.s3" in rule.pattern.get("source", [])]

    def api(self) -> "ApiSpec":
        """The REST API (AWS::ApiGateway::RestApi) from its OpenAPI body, with its stage and usage plan."""
        apis = self.of_type("AWS::ApiGateway::RestApi")
        if len(apis) > 1:
            raise TemplateError(f"the twin serves one REST API; the template declares {sorted(apis)}")
        if not apis:
            return ApiSpec(stage="Prod", binary_media_types=[], routes=[])
        ((logical_id, resource),) = apis.items()
        properties = resource["Properties"]
        body = self.resolve(properties.get("Body", {}))
        binary_types = body.get("x-amazon-apigateway-binary-media-types") or self.resolve(
            properties.get("BinaryMediaTypes", [])
        )
        functions = {function.arn: function.logical_id for function in self.functions().values()}
        return ApiSpec(
            name=str(self.resolve(properties.get("Name") or body.get("info", {}).get("title", ""))),
            stage=self._stage_of(logical_id),
            binary_media_types=[media.replace("~1", "/") for media in binary_types],
            routes=_routes(body, functions),
            cors_headers=_preflight_headers(body),
            usage_plan=self._usage_plan_of(logical_id),
        )

    def _stage_of(self, api_id: str) -> str:
        for stage in self.of_type("AWS::ApiGateway::Stage").values():
            if stage["Properties"].get("RestApiId") == {"Ref": api_id}:
                return str(self.resolve(stage["Properties"]["StageName"]))
        raise TemplateError(f"the REST API {api_id} has no AWS::ApiGateway::Stage")

    def _usage_plan_of(self, api_id: str) -> "UsagePlan | None":
        for plan in self.of_type("AWS::ApiGateway::UsagePlan").values():
            properties = plan["Properties"]
            if not any(stage.get("ApiId") == {"Ref": api_id} for stage in properties.get("ApiStages", [])):
                continue
            properties = self.resolve(properties)
            if "Throttle" not in properties:
                return None
            quota = properties.get("Quota", {})
            if quota and quota.get("Period", "DAY") != "DAY":
                raise TemplateError(f"the twin counts usage-plan quotas per DAY, not per {quota['Period']}")
            return UsagePlan(
                rate_limit=float(properties["Throttle"]["RateLimit"]),
                burst_limit=int(properties["Throttle"]["BurstLimit"]),
                quota_limit=int(quota["Limit"]) if "Limit" in quota else None,
            )
        return None


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method")
# where a proxy integration's URI names the function: .../functions/<function ARN>/invocations
_LAMBDA_URI = re.compile(r":lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")


def _operations(body: dict):
    """(path, method, operation) of every method of an OpenAPI body."""
    for path, methods in body.get("paths", {}).items():
        for method, operation in methods.items():
            if method.lower() in _METHODS:
                yield path, method.lower(), operation


def _routes(body: dict, functions: dict[str, str]) -> list["Route"]:
    """The Lambda proxy integrations of an OpenAPI body as routes, each needing the API key when its security (its
    own, else the API's) names the ``x-api-key`` header scheme."""
    schemes = body.get("securityDefinitions", {})
    key_schemes = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header" and scheme.get("name") == "x-api-key"
    }
    routes = []
    for path, method, operation in _operations(body):
        integration = operation.get("x-amazon-apigateway-integration", {})
        if integration.get("type") != "aws_proxy":
            continue
        found = _LAMBDA_URI.search(integration["uri"])
        if found is None or found["arn"] not in functions:
            raise TemplateError(f"{method.upper()} {path} integrates {integration['uri']}, not a function of the stack")
        security = operation.get("security", body.get("security", []))
        routes.append(
            Route(
                path=path,
                method="ANY" if method == "x-amazon-apigateway-any-method" else method.upper(),
                function=functions[found["arn"]],
                # API Gateway asks for the key when the method's security names the key's scheme (SAM writes the key
                # and an authorizer as two requirements, and API Gateway enforces both)
                api_key_required=any(key_schemes & set(requirement) for requirement in security),
            )
        )
    return routes


def _preflight_headers(body: dict) -> dict[str, str] | None:
    """The headers of the mock integration SAM answers the browsers' preflight OPTIONS with (its Cors setting;
    values are quoted string literals, "'*'"), or None when the API has no CORS."""
    found = []
    for _, method, operation in _operations(body):
        integration = operation.get("x-amazon-apigateway-integration", {})
        if method == "options" and integration.get("type") == "mock":
            parameters = integration.get("responses", {}).get("default", {}).get("responseParameters", {})
            found.append(
                {
                    name.removeprefix("method.response.header."): str(value).strip("'")
                    for name, value in parameters.items()
                    if name.startswith("method.response.header.")
                }
            )
    if any(headers != found[0] for headers in found):
        raise TemplateError("the twin answers every path's preflight the same: the API's CORS headers differ by path")
    return found[0] if found else None


def substitute_definition(definition: str, substitutions: dict[str, str]) -> str:
    """DefinitionSubstitutions as CloudFormation applies them: every ``${Key}`` replaced; a placeholder without a
    value is an error."""
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
    concurrency: int = DEFAULT_CONCURRENCY  # ReservedConcurrentExecutions, else a new account's quota
    log_group: str = ""  # where Lambda sends the function's logs (AWS_LAMBDA_LOG_GROUP_NAME)


@dataclass(frozen=True)
class RoleSpec:
    name: str
    arn: str
    policies: dict[str, dict]  # inline policy name -> document, intrinsics resolved
    managed_policy_arns: list[str]  # AWS managed policies (SAM's AWSLambdaBasicExecutionRole, ...) and the stack's
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
    """The API key's usage plan (AWS::ApiGateway::UsagePlan): throttle and quota."""

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
    name: str = ""  # the RestApi's name: its Name, else its OpenAPI body's title (SAM's: the stack name)
