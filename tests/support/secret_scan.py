"""A scan for secrets and account ids in text: AWS access keys, private keys, secret access keys that look
random, and account ids that are neither placeholders nor AWS's own image registries."""

import json
import math
import re
import subprocess
from collections import Counter

from local_twin.account import ACCOUNT_ID as TWIN_ACCOUNT_ID
from local_twin.cloudformation import load_yaml
from tests.support.paths import ROOT

# Account ids that belong to nobody: moto's default account, and all zeros (LocalStack's default; the same
# digits end the placeholder UUIDs and pad the Debugger's step file names).
PLACEHOLDER_ACCOUNT_IDS = frozenset({TWIN_ACCOUNT_ID, "000000000000"})  # the twin's (moto's) account, a zero one
ACCOUNT_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{12}(?![0-9A-Za-z])")
# AWS's own registries: an account id is AWS's only inside an ECR image URI or ECR repository ARN.
ECR_ACCOUNT = re.compile(
    r"(?<![0-9])(?P<host>[0-9]{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com"
    r"|arn:aws[a-z-]*:ecr:[a-z0-9-]+:(?P<arn>[0-9]{12}):repository/"
)
ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
SECRET_ACCESS_KEY = re.compile(r"aws_secret_access_key[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+=]{8,})", re.I)
DUMMY_SECRETS = frozenset({"testing"})  # moto's documented dummy credentials
# Real secret access keys are 40 random base64 characters (~5 bits each); words and dummies stay far below.
SECRET_MIN_LENGTH = 16
SECRET_MIN_BITS_PER_CHAR = 3.5


def aws_owned_account_ids() -> frozenset[str]:
    """The registries in template.yaml's ImageUris mapping (tests/template/test_image_uris.py checks them
    against sagemaker-core, so they are AWS's own)."""
    uris = json.dumps(load_yaml(ROOT / "template.yaml")["Mappings"]["ImageUris"])
    return frozenset(ACCOUNT_ID.findall(uris))


def bits_per_char(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_findings(text: str, aws_owned: frozenset[str]) -> list[str]:
    """Each secret or account id in ``text`` as ``line N: what``; empty when clean."""
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        ecr_spans = [match.span(match.lastgroup) for match in ECR_ACCOUNT.finditer(line)]
        for match in ACCOUNT_ID.finditer(line):
            account = match.group()
            in_ecr_uri = match.span() in ecr_spans
            if account not in PLACEHOLDER_ACCOUNT_IDS and not (in_ecr_uri and account in aws_owned):
                findings.append(f"line {number}: account id {account}")
        findings += [f"line {number}: access key id {match.group()}" for match in ACCESS_KEY_ID.finditer(line)]
        if PRIVATE_KEY.search(line):
            findings.append(f"line {number}: private key")
        for match in SECRET_ACCESS_KEY.finditer(line):
            value = match.group("value")
            random_looking = len(value) >= SECRET_MIN_LENGTH and bits_per_char(value) >= SECRET_MIN_BITS_PER_CHAR
            if value not in DUMMY_SECRETS and random_looking:
                findings.append(f"line {number}: secret access key {value[:4]}...")
    return findings


def repository_text_files() -> dict[str, str]:
    """Every file git tracks or would add (not ignored), so a secret is caught before its first commit."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout
    files = {}
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        try:
            files[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary: images and archives carry no credentials we could read
    return files
