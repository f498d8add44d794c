"""The request limits SageMaker checks on its side and botocore's client validation does not.

botocore's ``validate_parameters`` (what the local SageMaker's ``validate`` runs, as every boto3 client does before
sending) checks types, required members and ``min`` (botocore/validate.py ``range_check``): not ``max`` lengths,
list and map sizes, number maxima or ``pattern``. AWS checks those on arrival and answers ValidationException
(e.g. CustomerMetadataProperties: "Maximum of 50 entries", keys 1-128 and values 1-256 characters matching
``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``; API_ModelPackage in the SageMaker API reference). ``check`` reads every limit from
the operation's botocore shapes, so the twin holds them in one place: botocore's. The patterns are Java regular
expressions with Unicode classes (``\\p{L}``), which the ``regex`` module reads and ``re`` does not; they must match
the whole value, as Java's ``matches`` does.

The message follows AWS's validation errors as seen from other services ("1 validation error detected: Value 'x'
at 'modelPackageDescription' failed to satisfy constraint: Member must have length less than or equal to 1024"); the
exact text SageMaker sends for each of these is a guess (docs/local_twin.md).
"""

from typing import Any

import regex
from botocore.model import Shape

from local_twin.sagemaker.errors import validation


def check(params: dict, shape: Shape) -> None:
    """ValidationException naming every member of ``params`` that breaks a limit of ``shape``."""
    found = violations(params, shape, "")
    if found:
        count = len(found)
        raise validation(f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(found)}")


def violations(value: Any, shape: Shape, path: str) -> list[str]:
    """What AWS would say about ``value`` (at ``path``, as AWS spells member paths) against ``shape``."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return [
            problem
            for name, member in shape.members.items()
            if name in value
            for problem in violations(value[name], member, _member_path(path, name))
        ]
    if shape.type_name == "list" and isinstance(value, list):
        found = _refused(value, path, _bounds(len(value), shape, "length"))
        for index, item in enumerate(value, start=1):
            found += violations(item, shape.member, f"{path}.{index}.member")
        return found
    if shape.type_name == "map" and isinstance(value, dict):
        found = _refused(value, path, _bounds(len(value), shape, "length"))
        for part, inner in (("keys", shape.key), ("value", shape.value)):
            items = value.keys() if part == "keys" else value.values()
            broken = sorted({limit for item in items for limit in _string_limits(item, inner)})
            if broken:
                found += _refused(value, path, [f"Map {part} must satisfy constraint: [{', '.join(broken)}]"])
        return found
    if shape.type_name == "string" and isinstance(value, str):
        return _refused(value, path, _string_limits(value, shape))
    if shape.type_name in ("integer", "long", "float", "double") and isinstance(value, int | float):
        return _refused(value, path, _bounds(value, shape, "value"))
    return []


def _member_path(path: str, name: str) -> str:
    """AWS names members in lower camel case: ``ModelPackageDescription`` -> ``modelPackageDescription``."""
    member = name[:1].lower() + name[1:]
    return f"{path}.{member}" if path else member


def _bounds(measure: float, shape: Shape, what: str) -> list[str]:
    """The shape's min/max broken by ``measure`` (``what``: "length" of a string, list or map, or "value")."""
    limits = shape.metadata
    broken = []
    if "min" in limits and measure < limits["min"]:
        broken.append(f"Member must have {what} greater than or equal to {limits['min']}")
    if "max" in limits and measure > limits["max"]:
        broken.append(f"Member must have {what} less than or equal to {limits['max']}")
    return broken


def _string_limits(value: str, shape: Shape) -> list[str]:
    broken = _bounds(len(value), shape, "length")
    pattern = shape.metadata.get("pattern")
    if pattern is not None and regex.fullmatch(pattern, value) is None:
        broken.append(f"Member must satisfy regular expression pattern: {pattern}")
    return broken


def _refused(value: Any, path: str, broken: list[str]) -> list[str]:
    return [f"Value '{_java_text(value)}' at '{path}' failed to satisfy constraint: {limit}" for limit in broken]


def _java_text(value: Any) -> str:
    """A value as AWS's (Java) messages print it: maps ``{k=v, ...}``, lists ``[a, b]``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    return str(value)
