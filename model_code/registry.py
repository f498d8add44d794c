"""The model registry's record of one trained model: what a model package's CustomerMetadataProperties hold, written
by the Register function and read by the quality gate, the Release and NotifyRelease functions and `dogbreeds
models|approve|reject|rollback`. Standard library only: the Lambdas import it from the layer.

SageMaker stores at most 50 entries, keys of 1-128 and values of 1-256 characters, both of letters, spaces,
digits and ``_ . : / = + - @`` only (API_ModelPackage, CustomerMetadataProperties; tests/model/test_registry.py
ties these numbers to botocore's shapes). Values are written with every other character escaped as ``=XX`` per
UTF-8 byte (quoted-printable's escape, ``=`` itself included), so an S3 key with a comma or a quote survives the
round trip; keys are this module's constants and must fit as they are.
"""

import hashlib
import math
import quopri
import re
from dataclasses import dataclass
from datetime import datetime

GROUP_SUFFIX = "models"  # the stack's package group is ``<SageMakerNamePrefix>-models`` (template.yaml)

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
# template.yaml's ApprovalMode: auto approves (and deploys) what passes the gate, manual waits for a person
AUTO, MANUAL = "auto", "manual"
APPROVAL_MODES = (AUTO, MANUAL)

MAX_ENTRIES, MAX_KEY_LENGTH, MAX_VALUE_LENGTH = 50, 128, 256
_KEY = re.compile(r"[A-Za-z0-9 _.:/=+\-@]{1,128}")  # the ASCII part of SageMaker's key pattern
_ESCAPED = re.compile(r"[^A-Za-z0-9 _.:/+\-@]+")  # '=' escapes, so it is escaped too

# the keys (lineage, metrics, verdicts); hyperparameters, split sizes and rule verdicts under their prefixes
RUN_ID = "run.id"
DATASET_URI = "dataset.uri"
DATASET_VERSION = "dataset.version-id"
DATASET_FINGERPRINT = "dataset.fingerprint"  # the test split's identity: what makes two accuracies comparable
TUNING_JOB = "tuning.job"
BEST_TRIAL = "tuning.best-trial"
TRAINING_JOB = "training.job"
CODE_URI = "code.uri"  # the sourcedir tarball, named by its content hash
TEST_ACCURACY = "metric.test-accuracy"
TEST_LOSS = "metric.test-loss"
HYPERPARAMETER = "hp."
SAMPLES = "samples."
RULE = "rule."


def _escape(value: str) -> str:
    return _ESCAPED.sub(lambda found: "".join(f"={byte:02X}" for byte in found.group().encode()), value)


def package_metadata(fields: dict[str, object]) -> dict[str, str]:
    """CustomerMetadataProperties for ``fields`` (None values left out, numbers written plainly). ValueError naming
    the key when SageMaker could not store it: better before CreateModelPackage than as its ValidationException."""
    properties = {}
    for key, value in fields.items():
        if value is None:
            continue
        if not _KEY.fullmatch(key):
            raise ValueError(f"model package metadata key {key!r} is not 1-{MAX_KEY_LENGTH} allowed characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"model package metadata {key!r} is {value}")
        text = _escape(str(value))
        if not 1 <= len(text) <= MAX_VALUE_LENGTH:
            raise ValueError(
                f"model package metadata {key!r} is {len(text)} characters once escaped (1-{MAX_VALUE_LENGTH})"
            )
        properties[key] = text
    if len(properties) > MAX_ENTRIES:
        raise ValueError(f"{len(properties)} model package metadata entries: SageMaker stores at most {MAX_ENTRIES}")
    return properties


def read_metadata(properties: dict[str, str]) -> dict[str, str]:
    """The values ``package_metadata`` wrote, unescaped."""
    return {key: quopri.decodestring(value.encode()).decode() for key, value in properties.items()}


@dataclass(frozen=True)
class Version:
    """One registered model, as DescribeModelPackage answers it."""

    arn: str
    number: int
    approval: str
    created: str  # ISO 8601
    metadata: dict[str, str]
    approval_description: str = ""

    @classmethod
    def from_described(cls, described: dict) -> "Version":
        created = described["CreationTime"]
        return cls(
            arn=described["ModelPackageArn"],
            number=int(described["ModelPackageVersion"]),
            approval=described.get("ModelApprovalStatus", ""),
            created=created.isoformat() if hasattr(created, "isoformat") else str(created),
            metadata=read_metadata(described.get("CustomerMetadataProperties", {})),
            approval_description=described.get("ApprovalDescription", ""),
        )

    @property
    def test_accuracy(self) -> float | None:
        return test_accuracy_of(self.metadata)

    @property
    def fingerprint(self) -> str | None:
        return self.metadata.get(DATASET_FINGERPRINT)

    @property
    def dataset(self) -> str:
        return dataset_of(self.metadata)

    def summary(self) -> str:
        return summary(self.number, self.metadata)


def test_accuracy_of(metadata: dict[str, str]) -> float | None:
    value = metadata.get(TEST_ACCURACY)
    return float(value) if value is not None else None


def dataset_of(metadata: dict[str, str]) -> str:
    """``digits.zip@<version id>``: which upload a version was trained and tested on."""
    name = metadata.get(DATASET_URI, "?").rsplit("/", 1)[-1]
    version = metadata.get(DATASET_VERSION)
    return f"{name}@{version}" if version else name


def summary(number: int, metadata: dict[str, str]) -> str:
    """``v3 (test accuracy 0.9926, dataset digits.zip@3HL4k...)``: the notifications' and the CLI's phrase."""
    accuracy = test_accuracy_of(metadata)
    scored = "unknown" if accuracy is None else f"{accuracy:.4f}"
    return f"v{number} (test accuracy {scored}, dataset {dataset_of(metadata)})"


# A release (an Approved version put on the endpoint through the pipeline's Deploy states) is an execution of the
# state machine: StartPipeline starts one per approval (manual mode), `dogbreeds rollback` its own.
RELEASE_EXECUTION = re.compile(r"release-v(?P<number>\d+)-[0-9a-f]{16}")


def release_execution_name(version: int, package_arn: str, modified: str) -> str:
    """One execution per approval: SageMaker may send a state change more than once, and the duplicates meet
    ExecutionAlreadyExists (the package and the time of its change name it)."""
    digest = hashlib.sha256(f"{package_arn}#{modified}".encode()).hexdigest()[:16]
    return f"release-v{version}-{digest}"


def rollback_execution_name(version: int, when: datetime) -> str:
    return f"rollback-v{version}-{when:%Y%m%d%H%M%S}"


def release_input(run_id: str, package_arn: str, reason: str) -> dict:
    """The state machine's input for a release (its run id is the execution's name, as for every run)."""
    return {"run_id": run_id, "release": {"model_package_arn": package_arn, "reason": reason}}
