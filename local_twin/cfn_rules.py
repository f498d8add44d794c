"""The template's Rules section, evaluated as CloudFormation does before it creates or updates any resource.

A rule's assertions are checked when its RuleCondition holds (or it has none); each assertion that is false
refuses the stack with its AssertDescription
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html). The rule
functions compare strings: a Number parameter's value is the text it was given. Fn::RefAll, Fn::ValueOf and
Fn::ValueOfAll read the account's resources (VPC ids, ...) and are not modelled: a rule using one is refused here
with a message that says so rather than evaluated wrongly.
"""

from collections.abc import Callable
from typing import Any

RULE_FUNCTIONS = ("Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals", "Fn::Not",
                  "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll", "Ref")  # fmt: skip
MIN_CONDITIONS, MAX_CONDITIONS = 2, 10  # Fn::And and Fn::Or (rule functions reference)


class RuleError(ValueError):
    """A rule the evaluator cannot evaluate as CloudFormation would (a malformed or unmodelled function)."""


def _conditions(name: str, argument: Any) -> list:
    if not isinstance(argument, list) or not MIN_CONDITIONS <= len(argument) <= MAX_CONDITIONS:
        raise RuleError(f"{name} takes {MIN_CONDITIONS} to {MAX_CONDITIONS} conditions, got {argument!r}")
    return argument


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RuleError(f"{where} must be a condition (true or false), got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleError(f"{where} takes a list of strings, got {value!r}")
    return value


def evaluate(expression: Any, ref: Callable[[str], Any]) -> Any:
    """The value of a rule expression; ``ref`` gives a parameter's (or pseudo parameter's) value."""
    if isinstance(expression, (str, bool)):
        return expression
    if isinstance(expression, (int, float)):
        return str(expression)  # rule functions compare text
    if isinstance(expression, list):
        return [evaluate(item, ref) for item in expression]
    if not isinstance(expression, dict) or len(expression) != 1:
        raise RuleError(f"not a rule function: {expression!r}")
    (name, argument), *_ = expression.items()
    if name == "Ref":
        return ref(argument)
    if name == "Fn::And":
        return all(_boolean(evaluate(item, ref), name) for item in _conditions(name, argument))
    if name == "Fn::Or":
        return any(_boolean(evaluate(item, ref), name) for item in _conditions(name, argument))
    if name == "Fn::Not":
        if not isinstance(argument, list) or len(argument) != 1:
            raise RuleError(f"Fn::Not takes one condition, got {argument!r}")
        return not _boolean(evaluate(argument[0], ref), name)
    if name in ("Fn::Equals", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn"):
        if not isinstance(argument, list) or len(argument) != 2:
            raise RuleError(f"{name} takes two arguments, got {argument!r}")
        left, right = (evaluate(item, ref) for item in argument)
        if name == "Fn::Equals":
            return left == right
        if name == "Fn::Contains":  # "true if a specified string matches at least one value in a list of strings"
            return right in _strings(left, name)
        if name == "Fn::EachMemberEquals":  # "true if a specified string matches all values in a list"
            return all(item == right for item in _strings(left, name))
        allowed = _strings(right, name)  # EachMemberIn: each string of the first list is in the second
        return all(item in allowed for item in _strings(left, name))
    if name in ("Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"):
        raise RuleError(f"{name} reads the account's resources and is not modelled by the twin")
    raise RuleError(f"{name} is not a rule function (Rules allow {', '.join(RULE_FUNCTIONS)})")


def refusals(rules: dict, ref: Callable[[str], Any]) -> list[str]:
    """``<rule>: <AssertDescription>`` of every assertion that refuses these parameters (none: the deploy goes on)."""
    refused = []
    for rule_name, rule in rules.items():
        if "RuleCondition" in rule and not _boolean(evaluate(rule["RuleCondition"], ref), f"{rule_name} RuleCondition"):
            continue
        for assertion in rule["Assertions"]:
            if not _boolean(evaluate(assertion["Assert"], ref), f"{rule_name} Assert"):
                refused.append(f"{rule_name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return refused
