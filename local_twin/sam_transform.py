"""SAM's own transform of a template: aws-sam-translator, the library behind ``sam validate``/``sam deploy`` and
CloudFormation's AWS::Serverless-2016-10-31 transform, turns the SAM resources into the CloudFormation the twin
provisions (functions and their generated roles, the state machine, the EventBridge rules, the REST API's
OpenAPI body, stage and usage plan, layers, permissions).

The translator takes no local paths: ``sam package`` uploads a function's CodeUri, a layer's ContentUri and a
state machine's or API's DefinitionUri and writes S3 URIs in their place, and ``sam validate`` puts stand-in URIs
there (samcli/lib/translate/sam_template_validator.py, ``_replace_local_codeuri``). The twin does the same with URIs
that keep the path, ``s3://local-artifacts/<path relative to the project>``, and reads each back as the local folder
or file (``local_path``).
"""

import copy
import functools
import json
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

from local_twin.cloudformation import TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
LOCAL_ARTIFACTS = "local-artifacts"  # the stand-in bucket of the project's local paths
_ARTIFACTS = {  # SAM resource type -> its property that points at a local path
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
}


def _as_s3_uri(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("s3://"):
        return f"s3://{LOCAL_ARTIFACTS}/{value}"
    return value


def local_path(root: Path, bucket: str, key: str) -> Path:
    """The project path an artifact location stands for (a ``Code``'s S3Bucket/S3Key, ``DefinitionS3Location``)."""
    if bucket != LOCAL_ARTIFACTS:
        raise ValueError(f"s3://{bucket}/{key} is not a local path of the project: the twin runs local code only")
    return Path(root) / key


def declares_sam(document: dict) -> bool:
    """Whether CloudFormation runs SAM's transform on the template (its ``Transform`` names it)."""
    declared = document.get("Transform", [])
    return SAM_TRANSFORM in ([declared] if isinstance(declared, str) else declared)


def transform(document: dict, parameters: dict[str, Any], region: str) -> dict:
    """The CloudFormation template SAM makes of ``document`` with these parameter values in ``region`` (a new
    dict; ``document`` is left as it is); a document SAM refuses raises TemplateError with SAM's reasons."""
    key = json.dumps([document, parameters, region], default=str)  # keys in their order: the template's order counts
    try:
        return copy.deepcopy(_transformed(key))
    except InvalidDocumentException as invalid:
        reasons = "; ".join(cause.message for cause in invalid.causes)
        raise TemplateError(f"SAM's transform refuses the template: {reasons}") from invalid


@functools.lru_cache(maxsize=32)
def _transformed(key: str) -> dict:
    document, parameters, region = json.loads(key)
    globals_function = document.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = _as_s3_uri(globals_function["CodeUri"])
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        name = _ARTIFACTS.get(resource.get("Type", ""))
        if name in properties:
            properties[name] = _as_s3_uri(properties[name])
    # The region comes from a session, as the translator reads it (no credentials needed); no managed policy is
    # looked up by name (the map SAM CLI reads from IAM): the template names its policies by ARN or inline.
    # (what samtranslator.translator.transform.transform does, with the region given)
    values = {name: ",".join(value) if isinstance(value, list) else value for name, value in parameters.items()}
    template = copy.deepcopy(document)
    to_py27_compatible_template(template, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    transformed = translator.translate(template, parameter_values=values, get_managed_policy_map=dict)
    translator.metrics.publish()  # its metrics go nowhere; unpublished ones are complained about at exit
    transformed = undo_mark_unicode_str_in_template(transformed)
    return {**transformed, "Resources": _in_template_order(document.get("Resources", {}), transformed["Resources"])}


def _in_template_order(written: dict, generated: dict) -> dict:
    """The translator's resources in the template's order, each one SAM generated after the one it came from (SAM
    names them after it: ``<Function>Role``, ``<Function><Event>``, ``<Layer><hash>``, ``<Api>Deployment<hash>``)."""
    order = list(written)

    def position(logical_id: str) -> tuple[int, int, str]:
        if logical_id in written:
            return order.index(logical_id), 0, ""
        sources = [index for index, source in enumerate(order) if logical_id.startswith(source)]
        return (max(sources, key=lambda index: len(order[index])) if sources else len(order)), 1, logical_id

    return {logical_id: generated[logical_id] for logical_id in sorted(generated, key=position)}
