"""The twin enforces the template's policies: a function whose role lacks a permission it uses fails the run
with AWS's AccessDenied, as it would on AWS. A copy of the project whose template.yaml lost one statement."""

import json
from pathlib import Path

import pytest

from tests.pipeline.zips import good_zip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def without_statement(template: str, sid: str) -> str:
    """template.yaml's text with the policy statement ``sid`` cut out (its ``- Sid:`` line and what it holds)."""
    lines = template.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- Sid: {sid}")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip()) > indent or not lines[end].strip()):
        end += 1
    return "\n".join(lines[:start] + lines[end:]) + "\n"


def test_a_removed_statement_fails_the_run_with_access_denied(tmp_path):
    from local_twin.twin import Twin

    project = tmp_path / "project"
    project.mkdir()
    for name in ("functions", "model_code", "statemachine", "layers", "samconfig.toml"):
        (project / name).symlink_to(ROOT / name)
    template = (ROOT / "template.yaml").read_text()
    (project / "template.yaml").write_text(without_statement(template, "PinItForTheRunsJobs"))
    assert "PinItForTheRunsJobs" in template  # the statement ValidateDataset needs to pin the upload

    zip_path = tmp_path / "probe.zip"
    zip_path.write_bytes(good_zip())
    with Twin(root=project, workdir=tmp_path / "twin", parameters={"PollIntervalSeconds": "0"}) as twin:
        twin.upload_dataset(zip_path)
        execution = twin.follow(twin.wait_for_new_execution(set()), timeout=300, poll_seconds=0.2)
        denials = [(d.action, d.resource) for d in twin.moto.denials]
    assert execution["status"] == "FAILED"
    cause = json.loads(execution.get("cause") or "{}")
    assert "AccessDenied" in json.dumps(cause), execution
    assert "s3:PutObject" in json.dumps(cause)
    assert denials and denials[0][0] == "s3:PutObject" and "/dataset/probe.zip" in denials[0][1]
