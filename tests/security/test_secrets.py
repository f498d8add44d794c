"""No secret or account id in the repository, and a scanner that flags them when planted."""

import base64
import secrets
import string

from local_twin.account import ACCOUNT_ID as TWIN_ACCOUNT_ID
from tests.support.secret_scan import aws_owned_account_ids, repository_text_files, secret_findings


def test_no_secret_or_account_id_in_the_repository():
    aws_owned = aws_owned_account_ids()
    assert len(aws_owned) > 10, aws_owned  # the registries of every commercial region
    files = repository_text_files()
    assert {"template.yaml", "tests/security/test_secrets.py", "model_code/inference.py"} <= set(files)
    findings = {name: found for name, text in files.items() if (found := secret_findings(text, aws_owned))}
    assert findings == {}


def random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def test_the_scanner_flags_planted_secrets():
    """Built at runtime, so this file itself stays clean for the scan above."""
    aws_owned = aws_owned_account_ids()
    aws_account = sorted(aws_owned)[0]
    someone = "4" * 12
    access_key = "AKIA" + random_text(string.ascii_uppercase + string.digits, 16)
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    planted = {
        f"key = '{access_key}'": [f"line 1: access key id {access_key}"],
        "-----BEGIN " + "RSA PRIVATE KEY-----": ["line 1: private key"],
        f'aws_secret_access_key = "{secret}"': [f"line 1: secret access key {secret[:4]}..."],
        f"AWS_SECRET_ACCESS_KEY={secret}": [f"line 1: secret access key {secret[:4]}..."],
        f"arn:aws:iam::{someone}:role/deploy": [f"line 1: account id {someone}"],
        f"{someone}.dkr.ecr.us-east-1.amazonaws.com/mine:1": [f"line 1: account id {someone}"],
        f"arn:aws:iam::{aws_account}:role/not-a-registry": [f"line 1: account id {aws_account}"],
    }
    for text, expected in planted.items():
        assert secret_findings(text, aws_owned) == expected, text
    clean = [
        "AWS_SECRET_ACCESS_KEY=testing",
        'aws_secret_access_key="x"',
        f"arn:aws:lambda:us-east-1:{TWIN_ACCOUNT_ID}:function:f",
        f"{aws_account}.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312",
        f"arn:aws:ecr:us-east-1:{aws_account}:repository/pytorch-training",
        "c0ffee00-0000-4000-8000-000000000000",
        "aws_secret_access_key=DUMMY_CREDENTIALS['AWS_SECRET_ACCESS_KEY']",
    ]
    for text in clean:
        assert secret_findings(text, aws_owned) == [], text
