"""The ASL (cfn-lint never opens DefinitionUri): statelint on the definition, placeholders vs substitutions."""

import json
import re

import pytest

from local_twin.template import substitute_definition
from tests.support.paths import ROOT
from tests.support.template_tools import STATELINT, run_tool, tool

NOT_SUBSTITUTED = {"StartPipelineFunction", "PredictFunction", "TryItPageFunction"}  # the rule's target and the API's


@pytest.fixture(scope="module")
def machine(document) -> dict:
    (resource,) = [r for r in document["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    return resource["Properties"]


@pytest.fixture(scope="module")
def definition(machine) -> str:
    return (ROOT / machine["DefinitionUri"]).read_text()


def test_placeholders_and_substitutions_match_both_ways(machine, definition):
    placeholders = set(re.findall(r"\$\{([^}]+)\}", definition))
    substitutions = set(machine["DefinitionSubstitutions"])
    assert placeholders - substitutions == set(), "placeholders without a substitution"
    assert substitutions - placeholders == set(), "substitutions the ASL never uses"


def test_substitutions_are_the_arn_of_every_step_function(document, machine):
    functions = {
        logical_id for logical_id, r in document["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    expected = {f"{logical_id}Arn": {"Fn::GetAtt": [logical_id, "Arn"]} for logical_id in functions - NOT_SUBSTITUTED}
    assert machine["DefinitionSubstitutions"] == expected


def test_statelint_accepts_the_substituted_definition(template, machine, definition, tmp_path):
    substitutions = {key: str(value) for key, value in template.resolve(machine["DefinitionSubstitutions"]).items()}
    substituted = tmp_path / "pipeline.asl.json"
    substituted.write_text(substitute_definition(definition, substitutions))
    result = run_tool(tool(STATELINT), substituted)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_catches_a_broken_definition(tmp_path):
    broken = tmp_path / "broken.asl.json"
    broken.write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}')
    result = run_tool(tool(STATELINT), broken)
    assert result.returncode != 0
    assert 'No state found named "Missing"' in result.stdout + result.stderr


def test_state_machine_may_invoke_exactly_the_substituted_functions(template, machine):
    targets = set(template.resolve(machine["DefinitionSubstitutions"]).values())
    invokable = {
        resource
        for policy in template.resolve(machine["Policies"])
        for statement in policy["Statement"]
        if "lambda:InvokeFunction" in statement["Action"]
        for resource in statement["Resource"]
    }
    assert invokable == targets


def all_states(states: dict) -> dict:
    """Every state, those inside Parallel branches and Map iterators included."""
    found = {}
    for name, state in states.items():
        found[name] = state
        for branch in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator") or {}]:
            found |= all_states(branch.get("States", {}))
    return found


def test_nothing_waits_forever(definition):
    """The execution has a timeout (a run past it is notified by the TIMED_OUT rule), and so has every Task."""
    document = json.loads(definition)
    assert 0 < document["TimeoutSeconds"] <= 7 * 24 * 3600
    tasks = {name: state for name, state in all_states(document["States"]).items() if state["Type"] == "Task"}
    assert tasks
    unbounded = sorted(name for name, state in tasks.items() if not state.get("TimeoutSeconds"))
    assert not unbounded, f"Task states without TimeoutSeconds: {unbounded}"
