"""The SageMaker Model Registry: model package groups and their versioned model packages.

As botocore's SageMaker model and the API reference describe them (CreateModelPackage, API_ModelPackage,
API_ModelPackageSummary; "Model Registry Models, Model Versions, and Model Groups" in the developer guide):

- a versioned package names its group (``ModelPackageGroupName``, a name or an ARN) and no ``ModelPackageName``; its
  versions count 1, 2, 3 ... per group (under the local SageMaker's lock); its ARN is
  ``arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>``; it is ``Completed`` at once (the twin
  validates nothing, SkipModelValidation or not). Unversioned packages are not modelled: refused, said so.
- CreateModelPackage's ``ClientToken`` (botocore's ``idempotencyToken``: boto3 fills a random one when absent) makes
  a retry answer the first call's ARN and create nothing.
- UpdateModelPackage (by ARN only) changes the approval, its description and the customer metadata (merged, then
  ``CustomerMetadataPropertiesToRemove`` removed); the other updatable fields are not modelled: refused, said so.
- DeleteModelPackageGroup refuses a group that holds versions (ConflictException, its one modelled error: that it
  is what a non-empty group answers is inferred).
- the ``SageMaker Model Package State Change`` event (developer guide, "Events that Amazon SageMaker AI sends to
  Amazon EventBridge", #eventbridge-model-package) after a create and after an update that changes the approval,
  handed to ``emit`` as a PutEvents entry; ``emit`` None (a standalone local SageMaker) drops it. AWS documents the
  event and that approval changes send it (its example carries ``ModelApprovalStatus: Rejected``); that a create
  sends one too is not documented.

What AWS leaves unsaid and the twin chooses (docs/local_twin.md): the approval a create without
``ModelApprovalStatus`` gets (PendingManualApproval), the answers for a missing group or package
(ValidationException) and every error's wording, which status changes are allowed (all), the event's timestamps'
format (ISO 8601 with milliseconds, as the documented example).
"""

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from local_twin.sagemaker.arns import Arns
from local_twin.sagemaker.errors import SageMakerError, now, validation

# the operations of this part, which the service also holds to the limits botocore does not check (constraints.py)
OPERATIONS = (
    "CreateModelPackageGroup", "DescribeModelPackageGroup", "DeleteModelPackageGroup", "CreateModelPackage",
    "DescribeModelPackage", "ListModelPackages", "UpdateModelPackage", "DeleteModelPackage",
)  # fmt: skip
EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
APPROVED = "Approved"
DEFAULT_APPROVAL = "PendingManualApproval"
COMPLETED = "Completed"
# what the registry keeps of a CreateModelPackage request and answers back in DescribeModelPackage
KEPT_FIELDS = (
    "ModelPackageDescription", "InferenceSpecification", "ModelApprovalStatus", "MetadataProperties", "ModelMetrics",
    "CustomerMetadataProperties", "CertifyForMarketplace", "Domain", "Task", "SamplePayloadUrl", "SourceUri",
    "DriftCheckBaselines", "AdditionalInferenceSpecifications", "SkipModelValidation", "ModelCard", "ModelLifeCycle",
)  # fmt: skip
# the documented example's detail (developer guide, #eventbridge-model-package), CertifyForMarketplace when given
EVENT_FIELDS = (
    "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "CreationTime", "InferenceSpecification",
    "ModelPackageStatus", "ModelPackageStatusDetails", "CertifyForMarketplace", "ModelApprovalStatus",
    "MetadataProperties", "ModelMetrics", "LastModifiedTime",
)  # fmt: skip
UPDATABLE = ("ModelPackageArn", "ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties",
             "CustomerMetadataPropertiesToRemove", "ClientToken")  # fmt: skip
METADATA_ENTRIES = 50  # CustomerMetadataProperties: "Maximum of 50 entries" (API_ModelPackage), after a merge too


@dataclass
class Group:
    name: str
    arn: str
    description: str | None
    created: float = field(default_factory=now)
    latest: int = 0  # the last version given: a deleted version's number is not given again
    versions: dict[int, dict] = field(default_factory=dict)


def group_name(name_or_arn: str) -> str:
    """A group's name from its name or its ARN (``...:model-package-group/<name>``)."""
    return name_or_arn.rsplit("/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


def package_reference(name_or_arn: str) -> str:
    """``<group>/<version>`` (or an unversioned package's name) from a package's ARN, name or ``<group>/<version>``."""
    return name_or_arn.split(":model-package/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


class ModelRegistry:
    """Groups and versions; ``lock`` is the local SageMaker's (versions are numbered under it); ``emit`` takes each
    state-change event as a PutEvents entry (None: dropped). ``described_fields`` and ``summary_fields`` are the
    members of botocore's DescribeModelPackageOutput and ModelPackageSummary: what each answer may carry."""

    def __init__(
        self,
        arns: Arns,
        lock: threading.RLock,
        emit: Callable[[dict], None] | None,
        described_fields: tuple[str, ...],
        summary_fields: tuple[str, ...],
    ):
        self.arns, self.lock, self.emit = arns, lock, emit
        self.described_fields, self.summary_fields = described_fields, summary_fields
        self.groups: dict[str, Group] = {}  # by lower-case name: ARNs carry names in lower case
        self.tokens: dict[str, str] = {}  # CreateModelPackage's ClientToken -> the ARN it created

    # ------------------------------------------------------------------ groups

    def create_group(self, request: dict) -> str:
        name = request["ModelPackageGroupName"]
        with self.lock:
            if name.lower() in self.groups:
                raise validation(f"Model Package Group already exists: {self.groups[name.lower()].arn}")
            arn = self.arns.sagemaker("model-package-group", name)
            self.groups[name.lower()] = Group(name, arn, request.get("ModelPackageGroupDescription"))
        return arn

    def group(self, name_or_arn: str) -> Group:
        name = group_name(name_or_arn)
        if name.lower() not in self.groups:
            raise validation(f"Model Package Group {name} does not exist.")
        return self.groups[name.lower()]

    def describe_group(self, name_or_arn: str) -> dict:
        group = self.group(name_or_arn)
        described = {
            "ModelPackageGroupName": group.name,
            "ModelPackageGroupArn": group.arn,
            "CreationTime": group.created,
            "CreatedBy": {},
            "ModelPackageGroupStatus": COMPLETED,
        }
        return described | ({"ModelPackageGroupDescription": group.description} if group.description else {})

    def delete_group(self, name: str) -> None:
        with self.lock:
            group = self.group(name)
            if group.versions:
                raise SageMakerError(
                    "ConflictException",
                    f"Model Package Group {group.name} still has model packages {sorted(group.versions)}: "
                    "delete them first.",
                )
            del self.groups[group.name.lower()]

    def next_version(self, group_name_or_arn: str) -> int:
        """The version the group's next package gets (1 for a group that does not exist: the create fails)."""
        group = self.groups.get(group_name(group_name_or_arn).lower())
        return group.latest + 1 if group else 1

    # ------------------------------------------------------------------ packages

    def create_package(self, request: dict) -> str:
        if "ModelPackageName" in request or "ModelPackageGroupName" not in request:
            raise validation(
                "The local SageMaker models versioned model packages only: give ModelPackageGroupName and no "
                "ModelPackageName."
            )
        token = request.get("ClientToken")
        with self.lock:
            if token in self.tokens:  # a retry: the first call's package, nothing new
                return self.tokens[token]
            group = self.group(request["ModelPackageGroupName"])
            group.latest += 1
            version, created = group.latest, now()
            package = {key: copy.deepcopy(request[key]) for key in KEPT_FIELDS if key in request}
            package |= {
                "ModelPackageName": group.name,
                "ModelPackageGroupName": group.name,
                "ModelPackageVersion": version,
                "ModelPackageArn": self.arns.sagemaker("model-package", f"{group.name}/{version}"),
                "CreationTime": created,
                "LastModifiedTime": created,
                "ModelPackageStatus": COMPLETED,
                "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
                "ModelApprovalStatus": request.get("ModelApprovalStatus", DEFAULT_APPROVAL),
            }
            group.versions[version] = package
            if token is not None:
                self.tokens[token] = package["ModelPackageArn"]
            event = self._event(package)
        self._emit(event)
        return package["ModelPackageArn"]

    def _find(self, name_or_arn: str) -> dict:
        reference = package_reference(name_or_arn)
        group, _, version = reference.partition("/")
        found = self.groups.get(group.lower())
        if found is None or not version.isdigit() or int(version) not in found.versions:
            raise validation(f"Model Package {name_or_arn} does not exist.")
        return found.versions[int(version)]

    def describe_package(self, name_or_arn: str) -> dict:
        with self.lock:
            package = self._find(name_or_arn)
            return {key: copy.deepcopy(value) for key, value in package.items() if key in self.described_fields}

    def summaries(self, params: dict) -> list[dict]:
        """ListModelPackages' packages, filtered and sorted (its paging is the service's ``page``). Its documented
        default type is Unversioned, which lists none of the twin's packages; with a group filter and no type the
        group's versions are listed (what AWS's samples rely on, e.g. ``list_model_packages(ModelPackageGroupName=g,
        ModelApprovalStatus="Approved")``: inferred, not documented)."""
        kind = params.get("ModelPackageType") or ("Versioned" if "ModelPackageGroupName" in params else "Unversioned")
        with self.lock:
            if kind == "Unversioned":
                listed = []
            elif "ModelPackageGroupName" in params:
                listed = list(self.group(params["ModelPackageGroupName"]).versions.values())
            else:
                listed = [package for group in self.groups.values() for package in group.versions.values()]
            listed = [package for package in listed if _selected(package, params)]
            by = _by_name if params.get("SortBy", "CreationTime") == "Name" else _by_creation_time
            listed.sort(key=by, reverse=params.get("SortOrder") == "Descending")
            return [{key: value for key, value in p.items() if key in self.summary_fields} for p in listed]

    def update_package(self, request: dict) -> str:
        unmodelled = sorted(set(request) - set(UPDATABLE))
        if unmodelled:
            raise validation(f"UpdateModelPackage's {', '.join(unmodelled)} is not modelled by the local SageMaker.")
        with self.lock:
            package = self._find(request["ModelPackageArn"])
            metadata = package.get("CustomerMetadataProperties", {}) | request.get("CustomerMetadataProperties", {})
            for key in request.get("CustomerMetadataPropertiesToRemove", []):
                metadata.pop(key, None)
            if len(metadata) > METADATA_ENTRIES:
                raise validation(
                    f"CustomerMetadataProperties would hold {len(metadata)} entries; the maximum is {METADATA_ENTRIES}."
                )
            approval = package["ModelApprovalStatus"]
            changed = request.get("ModelApprovalStatus", approval) != approval
            if "CustomerMetadataProperties" in request or "CustomerMetadataPropertiesToRemove" in request:
                package["CustomerMetadataProperties"] = metadata
            for key in ("ModelApprovalStatus", "ApprovalDescription"):
                if key in request:
                    package[key] = request[key]
            package["LastModifiedTime"] = now()
            event = self._event(package) if changed else None
        if event is not None:
            self._emit(event)
        return package["ModelPackageArn"]

    def delete_package(self, name_or_arn: str) -> None:
        with self.lock:
            package = self._find(name_or_arn)
            del self.groups[package["ModelPackageGroupName"].lower()].versions[package["ModelPackageVersion"]]
            self.tokens = {token: arn for token, arn in self.tokens.items() if arn != package["ModelPackageArn"]}

    def serving_container(self, package_arn: str) -> dict:
        """What CreateModel with ``PrimaryContainer.ModelPackageName`` serves: the package's first inference
        container (Image, ModelDataUrl, Environment). The package must be Approved: "For versioned models, the
        value of this parameter must be set to Approved to deploy the model" (botocore's ModelApprovalStatus);
        the refusal's wording is the twin's."""
        with self.lock:
            package = self._find(package_arn)
            if package["ModelApprovalStatus"] != APPROVED:
                raise validation(
                    f"Model Package {package['ModelPackageArn']} is {package['ModelApprovalStatus']}: its "
                    "ModelApprovalStatus must be set to Approved to deploy the model."
                )
            containers = package.get("InferenceSpecification", {}).get("Containers", [])
            if not containers:
                raise validation(f"Model Package {package['ModelPackageArn']} has no InferenceSpecification.")
            return copy.deepcopy(containers[0])

    # ------------------------------------------------------------------ the state-change event

    def _event(self, package: dict) -> dict:
        detail = {key: copy.deepcopy(package[key]) for key in EVENT_FIELDS if key in package}
        for key in ("CreationTime", "LastModifiedTime"):
            detail[key] = _iso(detail[key])
        return {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Resources": [package["ModelPackageArn"]],
            "Detail": json.dumps(detail),
        }

    def _emit(self, event: dict) -> None:
        if self.emit is not None:
            self.emit(event)


def _by_name(package: dict) -> tuple:
    return package["ModelPackageName"], package["ModelPackageVersion"]


def _by_creation_time(package: dict) -> tuple:
    return package["CreationTime"], package["ModelPackageVersion"]


def _selected(package: dict, params: dict) -> bool:
    """ListModelPackages' filters: approval, name part, creation time (exclusive bounds, as "after"/"before")."""
    if "ModelApprovalStatus" in params and package["ModelApprovalStatus"] != params["ModelApprovalStatus"]:
        return False
    if params.get("NameContains", "").lower() not in package["ModelPackageName"].lower():
        return False
    if "CreationTimeAfter" in params and package["CreationTime"] <= float(params["CreationTimeAfter"]):
        return False
    return not ("CreationTimeBefore" in params and package["CreationTime"] >= float(params["CreationTimeBefore"]))


def _iso(epoch_seconds: float) -> str:
    """``2021-02-24T17:25:14.238Z``: the documented example's form."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
