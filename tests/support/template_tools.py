"""The template tools (each in a virtualenv of its own) and ways to read template.yaml's functions."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT

TEMPLATE = ROOT / "template.yaml"
# One virtualenv per tool: their pins (boto3 above all) cannot share one resolve. `make test` installs them.
SAM = ROOT / ".venv-sam" / "bin" / "sam"
STATELINT = ROOT / ".venv-sam" / "bin" / "statelint"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_PYTHON = ROOT / ".venv-checkov" / "bin" / "python"
TOOL_ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}


def tool(path: Path) -> Path:
    """A tool the checks cannot do without: missing is a failure (run `make test` to install), never a skip."""
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: `make test` installs the template tools")
    return path


def run_tool(*command, timeout: int = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def functions_of(document: dict) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in document["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def handler_folder(resource: dict) -> str:
    """``start_tuning.app.lambda_handler`` -> ``start_tuning``."""
    return resource["Properties"]["Handler"].split(".", 1)[0]
