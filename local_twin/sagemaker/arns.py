"""The ARNs the local SageMaker names: its own resources', the CloudWatch alarms an endpoint update reads and the
log groups its errors point at."""

from dataclasses import dataclass

from local_twin.account import ACCOUNT_ID, PARTITION


@dataclass(frozen=True)
class Arns:
    """The region and account every ARN of this local SageMaker names, given once to each part that answers ARNs."""

    region: str

    def sagemaker(self, kind: str, name: str) -> str:
        """``training-job``, ``endpoint``, ... ``name`` (SageMaker's ARNs hold resource names in lower case)."""
        return f"arn:{PARTITION}:sagemaker:{self.region}:{ACCOUNT_ID}:{kind}/{name.lower()}"

    def alarm(self, name: str) -> str:
        return f"arn:{PARTITION}:cloudwatch:{self.region}:{ACCOUNT_ID}:alarm:{name}"

    def log_group(self, name: str) -> str:
        return f"arn:{PARTITION}:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}"
