"""The model registry as `dogbreeds models|approve|reject|rollback` read and change it: functions over a clients
callable (service name -> boto3 client, as monitor.py's), the choices among versions pure.

Versions are read with ListModelPackages (its summaries carry no metadata) and one DescribeModelPackage each;
their metadata only through ``model_code.registry.Version``.
"""

import json
from collections.abc import Iterable, Iterator

from dogbreeds_cli.snapshot import Clients
from dogbreeds_cli.target import TargetError
from model_code import live_version, registry

# UpdateModelPackage's ApprovalDescription (botocore's shape; its client checks only the minimum, AWS the maximum)
MAX_APPROVAL_DESCRIPTION = 1024


def summaries(clients: Clients, group: str) -> list[dict]:
    """Every version's ListModelPackages summary, newest first. ModelPackageType defaults to Unversioned
    (API_ListModelPackages), which would list none of the group's versions."""
    paginator = clients("sagemaker").get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group, ModelPackageType="Versioned", SortBy="CreationTime", SortOrder="Descending"
    )
    return [summary for page in pages for summary in page["ModelPackageSummaryList"]]


def described(clients: Clients, listed: list[dict]) -> Iterator[registry.Version]:
    sagemaker = clients("sagemaker")
    for summary in listed:
        yield registry.Version.from_described(
            sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        )


def find(clients: Clients, group: str, number: int, listed: list[dict] | None = None) -> registry.Version:
    """Version ``number`` of the group, described; TargetError naming the versions there are when it is not one."""
    listed = summaries(clients, group) if listed is None else listed
    matching = [summary for summary in listed if summary.get("ModelPackageVersion") == number]
    if not matching:
        there = sorted(summary["ModelPackageVersion"] for summary in listed if "ModelPackageVersion" in summary)
        known = f"its versions are v{there[0]} to v{there[-1]}" if there else "it has no version yet"
        raise TargetError(f"{group} has no version {number}: {known} (`dogbreeds models` lists them)")
    return next(described(clients, matching))


def live_package(clients: Clients, endpoint_name: str) -> str | None:
    """The ARN of the version the endpoint serves (None: nothing served, or a model made before the registry)."""
    return live_version.served_package(clients("sagemaker"), endpoint_name)


def number_of(arn: str | None, listed: list[dict]) -> int | None:
    """The version number of the package ``arn`` among ``listed`` (None: not one of them, or no ARN)."""
    return next((summary.get("ModelPackageVersion") for summary in listed if summary["ModelPackageArn"] == arn), None)


def approval_description(action: str, who: str, why: str | None) -> str:
    """UpdateModelPackage's ApprovalDescription: who did it, with which command, and why (``approved by alice with
    dogbreeds approve: retrained on the May photos``). TargetError when SageMaker could not store it."""
    description = f"{action} by {who} with dogbreeds" + (f": {why}" if why else "")
    if len(description) > MAX_APPROVAL_DESCRIPTION:
        raise TargetError(
            f"the approval description would be {len(description)} characters; SageMaker stores at most "
            f"{MAX_APPROVAL_DESCRIPTION}: say it shorter"
        )
    return description


def set_approval(clients: Clients, version: registry.Version, status: str, description: str) -> None:
    clients("sagemaker").update_model_package(
        ModelPackageArn=version.arn, ModelApprovalStatus=status, ApprovalDescription=description
    )


def deployed_packages(clients: Clients, state_machine_arn: str) -> Iterator[str]:
    """The package each deployment put live, newest first: the succeeded executions (runs that deployed their model,
    releases) whose output holds a deployment. Step Functions is the history: it keeps closed executions 90 days."""
    stepfunctions = clients("stepfunctions")
    pages = stepfunctions.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, statusFilter="SUCCEEDED"
    )
    for page in pages:
        for execution in page["executions"]:
            described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
            output = json.loads(described.get("output") or "{}")
            if "deployment" in output and "package" in output:
                yield output["package"]["arn"]


def rollback_choice(
    versions: list[registry.Version], live_arn: str | None, deployed: Iterable[str]
) -> registry.Version:
    """The version served before the live one: the newest deployment (``deployed``, newest first) of an Approved
    version other than the live one. TargetError when there is none."""
    approved = {version.arn: version for version in versions if version.approval == registry.APPROVED}
    for package_arn in deployed:
        if package_arn != live_arn and package_arn in approved:
            return approved[package_arn]
    raise TargetError(
        "no version to roll back to: no Approved version other than the live one was deployed in the runs Step "
        "Functions still holds (90 days; name one: `dogbreeds rollback VERSION`; `dogbreeds models` lists them)"
    )


def release_executions(clients: Clients, state_machine_arn: str, number: int) -> list[dict]:
    """The executions an approval of version ``number`` started (the newest hundred runs), newest first."""
    listed = clients("stepfunctions").list_executions(stateMachineArn=state_machine_arn, maxResults=100)
    return [
        execution
        for execution in listed["executions"]
        if (found := registry.RELEASE_EXECUTION.fullmatch(execution["name"])) and int(found["number"]) == number
    ]


def new_release(clients: Clients, state_machine_arn: str, number: int, before: list[dict]) -> str | None:
    """The ARN of the first release of version ``number`` that is not among ``before`` (listed before its approval);
    None while there is none. (SageMaker may send an event twice: a second release finds the version live.)"""
    known = {execution["executionArn"] for execution in before}
    started = [
        run for run in release_executions(clients, state_machine_arn, number) if run["executionArn"] not in known
    ]
    return started[-1]["executionArn"] if started else None
