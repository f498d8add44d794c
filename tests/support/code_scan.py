"""What a Lambda's code does, read from its source with ast: the modules it runs, the environment variables
it reads, the boto3 operations it calls and the IAM actions they need (local_twin/iam_actions.py, the table the
twin's IAM gateway and its SageMaker enforce). The template tests compare these with template.yaml.
"""

import ast
from functools import cache
from pathlib import Path

import boto3

from local_twin.iam_actions import IMPLIED_ACTIONS, TAGGING_ACTION, actions_of, tags_need_add_tags
from tests.support.paths import ROOT

FUNCTIONS_DIR = ROOT / "functions"
LAYER_PACKAGE = "model_code"  # ModelCodeLayer's package (/opt/python/model_code): part of the functions' code
# The transfer helpers boto3 adds to the S3 client -> the operation whose actions they need (each may make several
# calls: a multipart upload, a HeadObject before a download, all under the same actions).
S3_TRANSFER_METHODS = {
    "upload_file": "PutObject",
    "upload_fileobj": "PutObject",
    "download_file": "GetObject",
    "download_fileobj": "GetObject",
    "copy": "CopyObject",  # the target; reading the source is its own GetObject grant
}


def _module_file(name: str) -> Path | None:
    """``common.config`` -> functions/common/config.py (or the package's __init__.py), ``model_code.quotas`` ->
    model_code/quotas.py (the layer's); None for anything else."""
    parts = name.split(".")
    base = (ROOT if parts[0] == LAYER_PACKAGE else FUNCTIONS_DIR).joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@cache
def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def function_modules(folder: str) -> set[Path]:
    """The function's own folder plus every module under functions/ and of the layer it imports, transitively."""
    pending = sorted((FUNCTIONS_DIR / folder).glob("*.py"))
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(_tree(path)):
            module = _module_file(name)
            if module is not None and module not in seen:
                pending.append(module)
    return seen


def imports_model_code(folder: str) -> bool:
    return any(
        name == "model_code" or name.startswith("model_code.")
        for path in function_modules(folder)
        for name in imported_names(_tree(path))
    )


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def environment_variables(paths: set[Path]) -> set[str]:
    """Names read through ``os.environ[...]``, ``os.environ.get(...)`` or ``os.getenv(...)``."""
    names = set()
    for path in paths:
        for node in ast.walk(_tree(path)):
            key = None
            if isinstance(node, ast.Subscript) and _is_environ(node.value):
                key = node.slice
            elif isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Attribute) and (
                    (func.attr == "get" and _is_environ(func.value)) or func.attr == "getenv"
                ):
                    key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
    return names


def _first_string_argument(call: ast.Call, keyword: str) -> str | None:
    for argument in [*call.args[:1], *(k.value for k in call.keywords if k.arg == keyword)]:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            return argument.value
    return None


@cache
def _client_model(service: str) -> tuple[dict[str, str], str]:
    """boto3 method name -> API operation name, and the requests' signing name, from botocore's service model."""
    client = boto3.session.Session().client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return dict(client.meta.method_to_api_mapping), client.meta.service_model.signing_name


def _names_a_version(paths: set[Path]) -> bool:
    """An S3 request carries ``VersionId`` (a keyword or a dict key)."""
    for path in paths:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.keyword) and node.arg == "VersionId":
                return True
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "VersionId" for key in node.keys
            ):
                return True
    return False


def _sends_tags(paths: set[Path]) -> bool:
    """A request carries ``Tags`` (a dict key or keyword): SageMaker then also checks sagemaker:AddTags."""
    for path in paths:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Dict) and any(
                isinstance(key, ast.Constant) and key.value == "Tags" for key in node.keys
            ):
                return True
            if isinstance(node, ast.keyword) and node.arg == "Tags":
                return True
    return False


def boto3_actions(paths: set[Path]) -> set[str]:
    """IAM actions of every client method the code calls or hands on, on every client service it creates."""
    services, called, paginated = set(), set(), set()
    for path in paths:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute):  # sagemaker.create_model, called here or passed to a helper
                called.add(node.attr)
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in ("client", "create_client"):  # boto3 and botocore
                service = _first_string_argument(node, "service_name")
                if service:
                    services.add(service)
            elif name == "get_paginator":
                operation = _first_string_argument(node, "operation_name")
                if operation:
                    paginated.add(operation)
            if name:
                called.add(name)
    versioned = _names_a_version(paths)  # a request of this code may name an S3 object's version
    actions = set()
    for service in services:
        methods, signing_name = _client_model(service)
        operations = {methods[method] for method in (called | paginated) & set(methods)}
        if service == "s3":
            operations |= {operation for method, operation in S3_TRANSFER_METHODS.items() if method in called}
        for operation in operations:
            actions.update(actions_of(signing_name, operation))
            if versioned:
                actions.update(actions_of(signing_name, operation, versioned=True))
    actions |= {implied for action in actions for implied in IMPLIED_ACTIONS.get(action, ())}
    if _sends_tags(paths) and any(tags_need_add_tags(action) for action in actions):
        actions.add(TAGGING_ACTION)
    return actions
