"""IAM as the twin enforces it: who is calling (from the request's signature) and whether its role allows it.

moto mints the credentials (STS AssumeRole of the template's roles) and stores the roles' policies; its own
enforcement mode is not used because it matches every resource against ``*`` for most services and skips
every condition operator but StringEquals. This module evaluates identity policies as AWS documents them:

- an explicit Deny wins, then any Allow, else the call is implicitly denied;
- Action/NotAction match case-insensitively with ``*`` and ``?``; Resource/NotResource case-sensitively;
- Condition: every operator block must hold, every key in a block must hold (values of one key are ORed);
  ``...IfExists`` holds when the key is absent, other operators fail on an absent key; ``ForAnyValue:`` /
  ``ForAllValues:`` for multivalued keys; an operator the twin does not know is an error, never a pass.

Not modelled (docs/local_twin.md): resource-based policies (bucket policies, Lambda permissions), permission
boundaries, SCPs, session policies, and SigV4 signature checks (the access key and session token must
match, the signature itself is not recomputed).
"""

import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from local_twin.template import ACCOUNT_ID, PARTITION

log = logging.getLogger(__name__)
ADMIN_ACCESS_KEY = "testing"  # the twin's own calls and the user's (make up): an account administrator


class AccessDenied(Exception):
    """A call its principal's policies do not allow; ``message`` is what AWS says."""

    def __init__(self, principal: str, action: str, resource: str, explicit: bool = False):
        reason = (
            "with an explicit deny in an identity-based policy"
            if explicit
            else f"because no identity-based policy allows the {action} action"
        )
        self.principal, self.action, self.resource = principal, action, resource
        self.message = f"User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}"
        super().__init__(self.message)


class DenialLog:
    """Every call the twin refused, in order: logged as it happens, listed for the tests and the user."""

    def __init__(self) -> None:
        self._denials: list[AccessDenied] = []
        self._lock = threading.Lock()

    def add(self, denied: AccessDenied) -> None:
        log.warning("IAM denied: %s", denied.message)
        with self._lock:
            self._denials.append(denied)

    def __iter__(self):
        with self._lock:
            return iter(list(self._denials))

    def __len__(self) -> int:
        with self._lock:
            return len(self._denials)


class InvalidCredentials(Exception):
    """An access key or session token the twin never issued (AWS: InvalidClientTokenId / InvalidAccessKeyId)."""


@dataclass(frozen=True)
class Principal:
    """Who signed a request: the administrator, or a session of one of the template's roles."""

    arn: str
    role_name: str | None  # None for the administrator

    @property
    def is_admin(self) -> bool:
        return self.role_name is None


@dataclass(frozen=True)
class Request:
    """One authorization question: may the principal do ``action`` on ``resource`` in this ``context``?"""

    action: str
    resource: str
    context: dict[str, Any] | None = None


def credential_scope(headers) -> tuple[str, str, str]:
    """(access key, region, service) from a SigV4 request's ``Credential=KEY/date/region/service/aws4_request``."""
    scope = (headers.get("Authorization") or "").partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) < 4:
        raise InvalidCredentials("the request is not signed (no SigV4 Authorization header)")
    return scope[0], scope[2], scope[3]


def principal_of(headers) -> Principal:
    """The caller of a SigV4-signed request, resolved through moto's STS sessions."""
    access_key, _, _ = credential_scope(headers)
    if access_key == ADMIN_ACCESS_KEY:
        return Principal(f"arn:{PARTITION}:iam::{ACCOUNT_ID}:root", None)
    for session in sts_backends[ACCOUNT_ID][PARTITION].assumed_roles:
        if session.access_key_id == access_key:
            if headers.get("X-Amz-Security-Token") != session.session_token:
                raise InvalidCredentials("The security token included in the request is invalid.")
            role_name = session.role_arn.rsplit("/", 1)[1]
            session_arn = f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session.session_name}"
            return Principal(session_arn, role_name)
    raise InvalidCredentials("The security token included in the request is invalid.")


def role_policies(role_name: str) -> list[dict]:
    """The role's inline policy documents, as stored in moto's IAM (none once the role is deleted)."""
    backend = iam_backends[ACCOUNT_ID][PARTITION]
    if role_name not in {role.name for role in backend.roles.values()}:
        return []
    documents = []
    for name in backend.list_role_policies(role_name):
        _, document = backend.get_role_policy(role_name, name)
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents


def authorize(principal: Principal, requests: Iterable[Request], denials: DenialLog | None = None) -> None:
    """Raise AccessDenied for the first request the principal's role does not allow (kept in ``denials``)."""
    if principal.is_admin:
        return
    policies = role_policies(principal.role_name)
    for request in requests:
        decision = evaluate(policies, request)
        if decision != "Allow":
            denied = AccessDenied(principal.arn, request.action, request.resource, explicit=decision == "Deny")
            if denials is not None:
                denials.add(denied)
            raise denied


def trusts(role_arn: str, service: str) -> bool:
    """Whether the role exists and its trust policy lets ``service`` (e.g. sagemaker.amazonaws.com) assume it."""
    backend = iam_backends[ACCOUNT_ID][PARTITION]
    role = next((role for role in backend.roles.values() if role.arn == role_arn), None)
    if role is None:
        return False
    document = role.assume_role_policy_document
    statements = json.loads(document).get("Statement", []) if isinstance(document, str) else document["Statement"]
    for statement in [statements] if isinstance(statements, dict) else statements:
        principals = statement.get("Principal", {}).get("Service", [])
        if statement.get("Effect") == "Allow" and service in _as_list(principals):
            return True
    return False


def allows(principal: Principal, request: Request) -> bool:
    return principal.is_admin or evaluate(role_policies(principal.role_name), request) == "Allow"


def evaluate(policies: list[dict], request: Request) -> str:
    """``Allow``, ``Deny`` (explicit) or ``ImplicitDeny``."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _applies(statement, request):
                continue
            if statement["Effect"] == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _applies(statement: dict, request: Request) -> bool:
    if "Action" in statement:
        if not any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement["Action"])):
            return False
    elif any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_glob(p, request.resource) for p in _as_list(statement["Resource"])):
            return False
    elif any(_glob(p, request.resource) for p in _as_list(statement.get("NotResource", []))):
        return False
    return all(
        _condition_holds(operator, key, _as_list(expected), (request.context or {}).get(key))
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def _string_like(expected: str, actual: str) -> bool:
    return _glob(expected, actual)


_OPERATORS = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringNotEquals": lambda expected, actual: actual != expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": _string_like,
    "StringNotLike": lambda expected, actual: not _string_like(expected, actual),
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnLike": _string_like,
    "ArnNotEquals": lambda expected, actual: actual != expected,
    "ArnNotLike": lambda expected, actual: not _string_like(expected, actual),
    "Bool": lambda expected, actual: str(actual).lower() == str(expected).lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _condition_holds(operator: str, key: str, expected: list, actual) -> bool:
    set_operator, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if operator == "Null":
        return (actual is None) == (str(expected[0]).lower() == "true")
    if operator not in _OPERATORS:
        raise ValueError(f"the twin cannot evaluate the IAM condition operator {operator!r} (key {key})")
    if actual is None:
        return if_exists
    match = _OPERATORS[operator]
    values = [str(value) for value in _as_list(actual)]
    if operator in _NEGATED:  # a negated operator holds when no expected value matches
        holds = [all(match(str(e), value) for e in expected) for value in values]
    else:
        holds = [any(match(str(e), value) for e in expected) for value in values]
    if set_operator == "ForAllValues":
        return all(holds)
    return any(holds)
