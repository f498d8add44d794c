"""Service Quotas' answers as its API gives them, for Stubbers (botocore checks each against the service model)."""

from model_code import quotas

ACCOUNT = "123456789012"
# A new account's answers, shaped as ListServiceQuotas gives them (codes from a real listing, 2025-11).
CODES = {
    "ml.m5.large for spot training job usage": "L-29688C85",
    "ml.m5.xlarge for spot training job usage": "L-4CEE6BA6",
    "ml.m5.large for endpoint usage": "L-614B09FD",
    "ml.m5.large for training job usage": "L-611FA074",
}


def quota(name: str, value: float, code: str | None = None, default: bool = False) -> dict:
    code = code or CODES[name]
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:{'' if default else ACCOUNT}:sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        **({} if default else {"QuotaAppliedAtLevel": "ACCOUNT"}),
    }


def fixed(known: quotas.Quota, value: float, default: bool = False) -> dict:
    return quota(known.name, value, known.code, default)


def listing(stub, operation: str, pages: list[list[dict]]) -> None:
    """``pages`` answered one after the other, each asked for with the token the one before gave."""
    for number, page in enumerate(pages):
        request = {"ServiceCode": "sagemaker", "MaxResults": 100} | ({"NextToken": f"t{number}"} if number else {})
        answer = {"Quotas": page} | ({"NextToken": f"t{number + 1}"} if number + 1 < len(pages) else {})
        stub.add_response(operation, answer, expected_params=request)
