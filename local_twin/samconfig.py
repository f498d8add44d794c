"""samconfig.toml as ``sam deploy --config-env <profile>`` reads it: the stack name and the parameter overrides."""

import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path


class SamConfigError(ValueError):
    """A profile that is missing or that ``sam deploy`` could not read (named, with the file)."""


@dataclass(frozen=True)
class Profile:
    """One samconfig.toml profile's deploy parameters."""

    stack_name: str
    parameter_overrides: dict[str, str]


def load_profile(samconfig: Path, profile: str = "local") -> Profile:
    """``[<profile>.deploy.parameters]``: ``stack_name`` and ``parameter_overrides`` (``Key=Value`` string or list)."""
    config = tomllib.loads(Path(samconfig).read_text())
    try:
        parameters = config[profile]["deploy"]["parameters"]
    except KeyError as missing:
        raise SamConfigError(f"{samconfig} has no [{profile}.deploy.parameters] section") from missing
    overrides = parameters.get("parameter_overrides", [])
    items = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SamConfigError(f"{samconfig} [{profile}] parameter override {item!r} is not Key=Value")
        values[key] = value
    stack_name = parameters.get("stack_name") or config[profile].get("global", {}).get("parameters", {}).get(
        "stack_name"
    )
    return Profile(stack_name or profile, values)
