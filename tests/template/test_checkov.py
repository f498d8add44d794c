"""checkov on template.yaml: no failed check; every skip sits in the template with its reason."""

import json

from tests.support.template_tools import CHECKOV, TEMPLATE, run_tool, tool


def test_checkov_finds_no_failed_check():
    result = run_tool(
        tool(CHECKOV), "--file", TEMPLATE, "--framework", "cloudformation", "--output", "json", "--compact", "--quiet"
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert result.returncode == 0, result.stderr


def test_every_skip_has_a_reason(document):
    for logical_id, resource in document["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{logical_id}: skip {skip['id']} without a reason"
