"""The IAM actions each AWS call needs: one table, read by the twin's IAM gateway (iam_gateway.py), the local
SageMaker's authorization (sagemaker/authorization.py) and the least-privilege test (tests/support/code_scan.py).

A call is named by its request's signing name (what SigV4's credential scope carries, botocore's
``signing_name``: ``states`` for the stepfunctions client, ``monitoring`` for cloudwatch) and its API operation.
Its action is ``<IAM prefix>:<Operation>`` unless a table below says otherwise. Which resource the action is
asked on is each enforcer's business (the gateway from the request, the local SageMaker from its parameters).

This module imports nothing of the twin's, so any part of the twin and any test can import it.
"""

# IAM's service prefix where it is not the signing name (service authorization reference, "Amazon CloudWatch":
# prefix cloudwatch; botocore signs CloudWatch requests as "monitoring").
_IAM_PREFIX = {"monitoring": "cloudwatch"}

# S3 operations whose actions are not s3:<Operation>: operation -> (its actions, its actions when the request
# names a version with VersionId). Each operation's API reference page lists its permissions; "Multipart upload
# API and permissions" gives CreateMultipartUpload/UploadPart/CompleteMultipartUpload s3:PutObject, ListParts
# s3:ListMultipartUploadParts; GetObjectAttributes needs two actions. CopyObject and UploadPartCopy also read
# their source (s3:GetObject, s3:GetObjectVersion for a given version): a second resource, not a second name.
S3_OPERATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "GetObject": (("s3:GetObject",), ("s3:GetObjectVersion",)),
    "HeadObject": (("s3:GetObject",), ("s3:GetObjectVersion",)),
    "GetObjectAttributes": (
        ("s3:GetObject", "s3:GetObjectAttributes"),
        ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes"),
    ),
    "DeleteObject": (("s3:DeleteObject",), ("s3:DeleteObjectVersion",)),
    "CopyObject": (("s3:PutObject",), ("s3:PutObject",)),
    "CreateMultipartUpload": (("s3:PutObject",), ("s3:PutObject",)),
    "UploadPart": (("s3:PutObject",), ("s3:PutObject",)),
    "UploadPartCopy": (("s3:PutObject",), ("s3:PutObject",)),
    "CompleteMultipartUpload": (("s3:PutObject",), ("s3:PutObject",)),
    "AbortMultipartUpload": (("s3:AbortMultipartUpload",), ("s3:AbortMultipartUpload",)),
    "ListParts": (("s3:ListMultipartUploadParts",), ("s3:ListMultipartUploadParts",)),
    "GetObjectTagging": (("s3:GetObjectTagging",), ("s3:GetObjectVersionTagging",)),
    "PutObjectTagging": (("s3:PutObjectTagging",), ("s3:PutObjectVersionTagging",)),
    "DeleteObjectTagging": (("s3:DeleteObjectTagging",), ("s3:DeleteObjectVersionTagging",)),
    "GetObjectAcl": (("s3:GetObjectAcl",), ("s3:GetObjectVersionAcl",)),
    "PutObjectAcl": (("s3:PutObjectAcl",), ("s3:PutObjectVersionAcl",)),
    "ListObjects": (("s3:ListBucket",), ("s3:ListBucket",)),
    "ListObjectsV2": (("s3:ListBucket",), ("s3:ListBucket",)),
    "HeadBucket": (("s3:ListBucket",), ("s3:ListBucket",)),
    "ListObjectVersions": (("s3:ListBucketVersions",), ("s3:ListBucketVersions",)),
    "ListMultipartUploads": (("s3:ListBucketMultipartUploads",), ("s3:ListBucketMultipartUploads",)),
}

# Actions a call may need besides its own. iam:PassRole for a call that hands SageMaker its execution role
# (SageMaker developer guide, "Passing roles"); cloudwatch:DescribeAlarms for the auto-rollback alarms an
# endpoint's DeploymentConfig names ("Auto-Rollback Configuration and Monitoring": documented for the execution
# role; the twin asks the caller too, as a refusal on AWS would come after a paid run).
IMPLIED_ACTIONS: dict[str, tuple[str, ...]] = {
    "sagemaker:CreateTrainingJob": ("iam:PassRole",),
    "sagemaker:CreateHyperParameterTuningJob": ("iam:PassRole",),
    "sagemaker:CreateModel": ("iam:PassRole",),
    "sagemaker:CreateEndpoint": ("cloudwatch:DescribeAlarms",),
    "sagemaker:UpdateEndpoint": ("cloudwatch:DescribeAlarms",),
    # Application Auto Scaling on a SageMaker variant (SageMaker's guide, "Auto scaling prerequisites"; the first
    # registration creates the service-linked role): the gateway asks them (iam_gateway.py's SCALING_IMPLIED),
    # all but DescribeEndpointConfig, whose resource (the live configuration) the request does not name.
    "application-autoscaling:RegisterScalableTarget": (
        "iam:CreateServiceLinkedRole",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    ),
    "application-autoscaling:PutScalingPolicy": (
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    ),
    # deregistering deletes the target's policies and their alarms
    "application-autoscaling:DeregisterScalableTarget": ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"),
}
# A SageMaker create call that carries Tags needs this too.
TAGGING_ACTION = "sagemaker:AddTags"


def iam_prefix(signing_name: str) -> str:
    return _IAM_PREFIX.get(signing_name, signing_name)


def actions_of(signing_name: str, operation: str, *, versioned: bool = False) -> tuple[str, ...]:
    """The call's own actions (without IMPLIED_ACTIONS): ``("s3:ListBucket",)`` for s3 ListObjectsV2."""
    if signing_name == "s3" and operation in S3_OPERATIONS:
        plain, on_a_version = S3_OPERATIONS[operation]
        return on_a_version if versioned else plain
    return (f"{iam_prefix(signing_name)}:{operation}",)


def tags_need_add_tags(action: str) -> bool:
    """Whether this call, sent with Tags, also needs TAGGING_ACTION."""
    return action.startswith("sagemaker:Create")
