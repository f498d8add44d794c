"""What IAM checks for each SageMaker call, as the SageMaker service authorization reference lists it.

The actions come from local_twin/iam_actions.py (the table the IAM gateway and the least-privilege test read); this
module finds the resources they are asked on. The action is ``sagemaker:<Operation>`` on the resource the operation
names (``training-job/<name>``, ``endpoint/<name>``, ...); a call that names no resource (the List calls but
ListTags and ListTrainingJobsForHyperParameterTuningJob, Search) is authorized against ``"*"`` only, so a statement
scoped to ARNs does not allow it; a create call that carries Tags needs ``sagemaker:AddTags`` too; one that hands
SageMaker a role needs ``iam:PassRole`` on it with ``iam:PassedToService`` = ``sagemaker.amazonaws.com``, and
SageMaker must be able to assume that role (its trust policy, evaluated with the keys of ``source_keys``);
CreateEndpoint and UpdateEndpoint need the endpoint configuration as well, and read the auto-rollback alarms they
name (``cloudwatch:DescribeAlarms``). AWS documents that the endpoint's execution role needs that read ("your IAM
execution role", SageMaker developer guide, "Auto-Rollback Configuration and Monitoring"; endpoints.py checks it)
without saying whether the caller is asked too: the twin asks both, as a refusal on AWS would come after a paid
run. The Experiments resources are ``experiment/<name>``, ``experiment-trial/<name>`` and
``experiment-trial-component/<name>``; (Dis)AssociateTrialComponent acts on the trial and the component.

The model registry's resources are ``model-package-group/<group>`` and, for a versioned package,
``model-package/<group>/<version>`` (the ARN CreateModelPackage answers). A call may name them by name, by ARN or
(a package) by ``<group>/<version>``: each is asked on its ARN. Which resource CreateModelPackage is authorized on
is not documented (the service authorization reference lists ``model-package`` for it; the package does not exist
yet, and it names a group): the twin asks both the group and the version being created, so a policy must grant
both, as one written for either reading of AWS's rules does (docs/local_twin.md).
"""

import re
from collections.abc import Callable

from local_twin.iam import Request
from local_twin.iam_actions import IMPLIED_ACTIONS, TAGGING_ACTION, actions_of, tags_need_add_tags
from local_twin.sagemaker.registry import group_name, package_reference

SIGNING_NAME = "sagemaker"  # sagemaker and sagemaker-runtime requests alike
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"
_VERBS = re.compile(r"^(Create|Describe|Delete|Update|Stop|Invoke)")
# nouns whose ARN resource type is not their kebab-case name (service authorization reference)
_KINDS = {"Trial": "experiment-trial", "TrialComponent": "experiment-trial-component"}
_PASSED_TO_SAGEMAKER = {"iam:PassedToService": SAGEMAKER_SERVICE}
# "Except for the ListTags API, resource-level restrictions are not available on List- calls" (SageMaker
# developer guide, API permissions reference); the service authorization reference gives Search no resource type.
_NAMELESS = {"Search"}


class UnmodelledCall(Exception):
    """A SageMaker call whose resource this module cannot tell, so it cannot be authorized."""


def _kind(noun: str) -> str:
    """``HyperParameterTuningJob`` -> ``hyper-parameter-tuning-job`` (the ARN's resource type)."""
    return _KINDS.get(noun) or re.sub(r"(?<!^)(?=[A-Z])", "-", noun).lower()


def names_no_resource(operation: str) -> bool:
    return operation in _NAMELESS or (
        operation.startswith("List") and operation != "ListTags" and "For" not in operation
    )


def required(
    operation: str,
    params: dict,
    arn: Callable[[str, str], str],
    alarm_arn: Callable[[str], str],
    next_package_version: Callable[[str], int] = lambda group: 1,
) -> list[Request]:
    """The IAM requests one call makes (``params`` already checked against the service model);
    ``next_package_version`` gives the version a group's next model package gets."""
    (action,) = actions_of(SIGNING_NAME, operation)
    if operation in ("AddTags", "ListTags", "DeleteTags"):
        return [Request(action, params["ResourceArn"])]
    if names_no_resource(operation):
        return [Request(action, "*")]
    if operation in ("AssociateTrialComponent", "DisassociateTrialComponent"):
        return [Request(action, arn(_kind(noun), params[f"{noun}Name"])) for noun in ("Trial", "TrialComponent")]
    if operation == "CreateModelPackage" and "ModelPackageGroupName" in params:
        group = group_name(params["ModelPackageGroupName"])
        version = arn("model-package", f"{group}/{next_package_version(group)}")
        needed = [Request(action, arn("model-package-group", group)), Request(action, version)]
        return needed + ([Request(TAGGING_ACTION, version)] if params.get("Tags") else [])
    if operation in ("DescribeModelPackage", "DeleteModelPackage"):  # a name, an ARN or <group>/<version>
        return [Request(action, arn("model-package", package_reference(params["ModelPackageName"])))]
    if operation == "UpdateModelPackage":
        return [Request(action, arn("model-package", package_reference(params["ModelPackageArn"])))]
    if operation in ("DescribeModelPackageGroup", "DeleteModelPackageGroup"):  # a name or an ARN
        return [Request(action, arn("model-package-group", group_name(params["ModelPackageGroupName"])))]
    # ListTrainingJobsForHyperParameterTuningJob acts on the tuning job
    noun = operation.rsplit("For", 1)[1] if "For" in operation else _VERBS.sub("", operation)
    if f"{noun}Name" not in params:
        raise UnmodelledCall(
            f"sagemaker:{operation} is not modelled by the twin's IAM (local_twin/sagemaker/authorization.py)"
        )
    resource = arn(_kind(noun), params[f"{noun}Name"])
    needed = [Request(action, resource)]
    implied = IMPLIED_ACTIONS.get(action, ())
    if operation in ("CreateEndpoint", "UpdateEndpoint"):
        needed.append(Request(action, arn("endpoint-config", params["EndpointConfigName"])))
    if "cloudwatch:DescribeAlarms" in implied:
        alarms = params.get("DeploymentConfig", {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])
        needed += [Request("cloudwatch:DescribeAlarms", alarm_arn(alarm["AlarmName"])) for alarm in alarms]
    if params.get("Tags") and tags_need_add_tags(action):
        needed.append(Request(TAGGING_ACTION, resource))
    if "iam:PassRole" in implied:
        roles = passed_roles(operation, params, arn)
        needed += [Request("iam:PassRole", role, _PASSED_TO_SAGEMAKER) for role, _ in roles]
    return needed


def passed_roles(operation: str, params: dict, arn: Callable[[str, str], str]) -> list[tuple[str, str | None]]:
    """Each role the call hands SageMaker, with the ARN SageMaker names as the source when it assumes it
    (``source_keys``): the training job's, the model's; None for a tuning job, whose trials assume the role."""
    if operation == "CreateTrainingJob":
        return [(params["RoleArn"], arn("training-job", params["TrainingJobName"]))]
    if operation == "CreateModel":
        return [(params["ExecutionRoleArn"], arn("model", params["ModelName"]))]
    if operation == "CreateHyperParameterTuningJob":
        definitions = [params.get("TrainingJobDefinition"), *params.get("TrainingJobDefinitions", [])]
        return [(definition["RoleArn"], None) for definition in definitions if definition]
    if "iam:PassRole" in IMPLIED_ACTIONS.get(actions_of(SIGNING_NAME, operation)[0], ()):
        raise UnmodelledCall(f"sagemaker:{operation} passes a role the twin cannot find (authorization.passed_roles)")
    return []


def source_keys(source_arn: str | None) -> dict[str, str]:
    """The condition keys SageMaker sends when it assumes an execution role, which its trust policy is
    evaluated with. SageMaker's "Cross-service confused deputy prevention" page
    (https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html) documents
    ``aws:SourceArn``/``aws:SourceAccount`` for training jobs and inference (and processing, batch transform,
    pipelines, ...) but not for hyperparameter tuning jobs: a tuning job and its trials send neither here
    (``source_arn`` None), so a trust condition on them fails them, as it may on AWS."""
    if source_arn is None:
        return {}
    return {"aws:SourceAccount": source_arn.split(":")[4], "aws:SourceArn": source_arn}
