"""What IAM checks for each SageMaker call, as the SageMaker service authorization reference lists it.

The action is ``sagemaker:<Operation>`` on the resource the operation names (``training-job/<name>``,
``endpoint/<name>``, ...; List operations act on ``*``); a create call that carries Tags needs
``sagemaker:AddTags`` too; one that hands SageMaker a role needs ``iam:PassRole`` on it with
``iam:PassedToService`` = ``sagemaker.amazonaws.com``; CreateEndpoint and UpdateEndpoint need the endpoint
configuration as well, and read the auto-rollback alarms they name (``cloudwatch:DescribeAlarms``).
The Experiments resources are ``experiment/<name>``, ``experiment-trial/<name>`` and
``experiment-trial-component/<name>``; (Dis)AssociateTrialComponent acts on the trial and the component.
"""

import re
from collections.abc import Callable

from local_twin.iam import Request

_VERBS = re.compile(r"^(Create|Describe|Delete|Update|Stop|Invoke)")
# nouns whose ARN resource type is not their kebab-case name (service authorization reference)
_KINDS = {"Trial": "experiment-trial", "TrialComponent": "experiment-trial-component"}
_PASSED_TO_SAGEMAKER = {"iam:PassedToService": "sagemaker.amazonaws.com"}


def _kind(noun: str) -> str:
    """``HyperParameterTuningJob`` -> ``hyper-parameter-tuning-job`` (the ARN's resource type)."""
    return _KINDS.get(noun) or re.sub(r"(?<!^)(?=[A-Z])", "-", noun).lower()


def _passed_roles(operation: str, params: dict) -> list[str]:
    if operation == "CreateTrainingJob":
        return [params["RoleArn"]]
    if operation == "CreateModel":
        return [params["ExecutionRoleArn"]]
    if operation == "CreateHyperParameterTuningJob":
        definitions = [params.get("TrainingJobDefinition"), *params.get("TrainingJobDefinitions", [])]
        return [definition["RoleArn"] for definition in definitions if definition]
    return []


def required(operation: str, params: dict, arn: Callable[[str, str], str], alarm_arn: Callable[[str], str]):
    """The IAM requests one call makes."""
    action = f"sagemaker:{operation}"
    if operation in ("AddTags", "ListTags", "DeleteTags"):
        return [Request(action, params["ResourceArn"])]
    if "For" in operation:  # ListTrainingJobsForHyperParameterTuningJob
        noun = operation.rsplit("For", 1)[1]
    elif operation.startswith("List"):
        return [Request(action, "*")]
    elif operation in ("AssociateTrialComponent", "DisassociateTrialComponent"):
        return [Request(action, arn(_kind(noun), params[f"{noun}Name"])) for noun in ("Trial", "TrialComponent")]
    else:
        noun = _VERBS.sub("", operation)
    resource = arn(_kind(noun), params[f"{noun}Name"])
    needed = [Request(action, resource)]
    if operation in ("CreateEndpoint", "UpdateEndpoint"):
        needed.append(Request(action, arn("endpoint-config", params["EndpointConfigName"])))
        alarms = params.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
        needed += [Request("cloudwatch:DescribeAlarms", alarm_arn(alarm["AlarmName"])) for alarm in alarms]
    if operation.startswith("Create") and params.get("Tags"):
        needed.append(Request("sagemaker:AddTags", resource))
    needed += [Request("iam:PassRole", role, _PASSED_TO_SAGEMAKER) for role in _passed_roles(operation, params)]
    return needed
