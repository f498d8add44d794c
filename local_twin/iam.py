"""IAM as the twin enforces it: who is calling (from the request's signature) and whether its role allows it.

moto mints the credentials (STS AssumeRole of the template's roles) and stores the roles' policies, which a
``Directory`` reads through moto's own IAM API (one per twin: nothing here reads moto's in-process state); its own
enforcement mode is not used because it matches every resource against ``*`` for most services and skips
every condition operator but StringEquals. This module evaluates identity policies as AWS documents them:

- an explicit Deny wins, then any Allow, else the call is implicitly denied;
- Action/NotAction match case-insensitively with ``*`` and ``?``; Resource/NotResource (and the Arn*
  condition operators) case-sensitively, ARN segment by segment (``arn_matches``);
- Condition: every operator block must hold, every key in a block must hold (values of one key are ORed,
  a negated operator's NORed); a key missing from the request makes a positive operator false and a negated
  one (``StringNotEquals``, ``ArnNotLike``, ``NotIpAddress``, ...) true, ``...IfExists`` true, ``Null``
  tests the absence itself; ``ForAllValues:`` is true and ``ForAnyValue:`` false on a missing key; an
  operator the twin does not know is an error, never a pass;
- a role's trust policy (``assume_role_as_service``): the service principal it names, ``sts:AssumeRole``,
  and its conditions, evaluated with the keys the assuming service sends.

Not modelled (docs/local_twin.md): other resource-based policies (bucket policies, Lambda permissions),
permission boundaries, SCPs, session policies, and SigV4 signature checks (the access key and session token
must match, the signature itself is not recomputed).
"""

import ipaddress
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from local_twin.account import ACCOUNT_ID, PARTITION

log = logging.getLogger(__name__)
ADMIN_ACCESS_KEY = "testing"  # the twin's own calls and the user's (make up): an account administrator


class AccessDenied(Exception):
    """A call its principal's policies do not allow; ``message`` is what AWS says."""

    def __init__(self, principal: str, action: str, resource: str, explicit: bool = False, reason: str | None = None):
        if reason is None:
            reason = (
                "with an explicit deny in an identity-based policy"
                if explicit
                else f"because no identity-based policy allows the {action} action"
            )
        self.principal, self.action, self.resource = principal, action, resource
        self.message = f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
        self.message += f" {reason}" if reason else ""
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
    """Who signed a request: the administrator, or a session of a role of one twin's IAM (``directory``)."""

    arn: str
    role_name: str | None  # None for the administrator
    directory: "Directory | None" = field(default=None, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role_name is None


ADMIN = Principal(f"arn:{PARTITION}:iam::{ACCOUNT_ID}:root", None)


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


def _document(document) -> dict:
    """A policy document as boto3 hands it over: parsed already, or (some answers) still JSON."""
    return json.loads(document) if isinstance(document, str) else document


_READS = ("Get", "List", "Generate", "Simulate")  # IAM operations that change nothing


class Directory:
    """One twin's roles and sessions, read through its moto server's IAM API (the twin's admin client).

    IAM decides every request the gateway passes on, so what IAM answered is kept: each role's policies and
    trust policy until an IAM write made through a watched client (``watch``: the twin's own clients, which
    tests use too) clears them; each session from the AssumeRole answer that created it through a watched STS
    client (moto's STS API checks no session token, its AssumeRole answer carries it). A change made through
    another client (a plain boto3 client of moto's URL) is not seen, nor a session it created: docs/local_twin.md.
    """

    def __init__(self, iam_client: BaseClient, sts_client: BaseClient):
        self._iam = iam_client
        self._lock = threading.Lock()
        self._generation = 0  # IAM writes seen so far: a read begun before one is not kept
        self._policies: dict[str, list[dict]] = {}  # role name -> its identity policies
        self._trusts: dict[str, dict | None] = {}  # role ARN -> its trust policy (None: no such role)
        self._sessions: dict[str, tuple[str, Principal]] = {}  # access key -> (session token, principal)
        self.watch(iam_client)
        self.watch(sts_client)

    def watch(self, client: BaseClient) -> None:
        """Note the IAM writes and the STS sessions made through ``client`` (idempotent)."""
        client.meta.events.register("after-call.iam", self._after_iam_call, unique_id=f"twin-iam-{id(self)}")
        client.meta.events.register(
            "after-call.sts.AssumeRole", self._after_assume_role, unique_id=f"twin-sts-{id(self)}"
        )

    def _after_iam_call(self, model, **_) -> None:
        if not model.name.startswith(_READS):
            with self._lock:
                self._generation += 1
                self._policies.clear()
                self._trusts.clear()

    def _after_assume_role(self, parsed: dict, **_) -> None:
        if "Credentials" not in parsed:  # refused
            return
        session_arn = parsed["AssumedRoleUser"]["Arn"]  # arn:aws:sts::<account>:assumed-role/<role>/<session>
        principal = Principal(session_arn, session_arn.split("/")[1], self)
        with self._lock:
            self._sessions[parsed["Credentials"]["AccessKeyId"]] = (parsed["Credentials"]["SessionToken"], principal)

    def session(self, role_arn: str, session_name: str) -> Principal:
        """The principal of a session of ``role_arn``: ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""
        role_name = role_arn.rsplit("/", 1)[1]
        return Principal(f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session_name}", role_name, self)

    def principal_of(self, headers) -> Principal:
        """The caller of a SigV4-signed request: the administrator or a session this directory saw created."""
        access_key, _, _ = credential_scope(headers)
        if access_key == ADMIN_ACCESS_KEY:
            return ADMIN
        with self._lock:
            token, principal = self._sessions.get(access_key, (None, None))
        if principal is None or headers.get("X-Amz-Security-Token") != token:
            raise InvalidCredentials("The security token included in the request is invalid.")
        return principal

    def policies(self, role_name: str) -> list[dict]:
        """The role's identity policies as IAM holds them: its inline policies and the default version of each
        managed policy attached to it (none once the role is deleted)."""
        return self._cached(self._policies, role_name, self._read_policies)

    def trust(self, role_arn: str) -> dict | None:
        """The role's trust policy; None when no role has that ARN."""
        return self._cached(self._trusts, role_arn, self._read_trust)

    def _cached(self, cache: dict, key: str, read: Callable[[str], Any]):
        with self._lock:
            if key in cache:
                return cache[key]
            generation = self._generation
        value = read(key)
        with self._lock:
            if generation == self._generation:
                cache[key] = value
        return value

    def _read_policies(self, role_name: str) -> list[dict]:
        iam = self._iam
        try:
            inline = iam.get_paginator("list_role_policies").paginate(RoleName=role_name)
            names = [name for page in inline for name in page["PolicyNames"]]
            managed = iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
            attached = [policy["PolicyArn"] for page in managed for policy in page["AttachedPolicies"]]
        except iam.exceptions.NoSuchEntityException:
            return []
        documents = [iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"] for name in names]
        for arn in attached:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            documents.append(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
        return [_document(document) for document in documents]

    def _read_trust(self, role_arn: str) -> dict | None:
        try:
            role = self._iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
        except self._iam.exceptions.NoSuchEntityException:
            return None
        return _document(role["AssumeRolePolicyDocument"]) if role["Arn"] == role_arn else None

    def assume_role_as_service(
        self, role_arn: str, service: str, context: dict[str, Any], denials: DenialLog | None = None
    ) -> None:
        """Raise AccessDenied unless the role exists and its trust policy lets ``service`` (sagemaker.amazonaws.com,
        ...) ``sts:AssumeRole`` with the condition keys that service sends (``context``, e.g. ``aws:SourceArn``).

        The denial reads as the AssumeRole refusals AWS answers, which name no policy type ("... is not
        authorized to perform: sts:AssumeRole on resource: <role>")."""
        trust = self.trust(role_arn)
        decision = "ImplicitDeny"
        if trust is not None:
            decision = evaluate_trust(trust, service, Request("sts:AssumeRole", role_arn, context))
        if decision != "Allow":
            denied = AccessDenied(service, "sts:AssumeRole", role_arn, reason="")
            if denials is not None:
                denials.add(denied)
            raise denied


def authorize(principal: Principal, requests: Iterable[Request], denials: DenialLog | None = None) -> None:
    """Raise AccessDenied for the first request the principal's role does not allow (kept in ``denials``)."""
    if principal.is_admin:
        return
    policies = principal.directory.policies(principal.role_name)
    for request in requests:
        decision = evaluate(policies, request)
        if decision != "Allow":
            denied = AccessDenied(principal.arn, request.action, request.resource, explicit=decision == "Deny")
            if denials is not None:
                denials.add(denied)
            raise denied


def evaluate_trust(trust: dict, service: str, request: Request) -> str:
    """A trust policy's decision for a service principal: its statements that name the service, evaluated as
    any policy (Action, Condition with the request's keys)."""
    statements = trust.get("Statement", [])
    naming_service = [
        statement
        for statement in ([statements] if isinstance(statements, dict) else statements)
        if _names_service(statement, service)
    ]
    return evaluate([{"Statement": naming_service}], request)


def _names_service(statement: dict, service: str) -> bool:
    """A trust statement's Principal covers the service: ``"*"`` or ``{"Service": [...]}`` naming it."""
    if "NotPrincipal" in statement:
        raise ValueError("the twin cannot evaluate NotPrincipal in a trust policy")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and service in _as_list(principal.get("Service", []))


def allows(principal: Principal, request: Request) -> bool:
    return principal.is_admin or evaluate(principal.directory.policies(principal.role_name), request) == "Allow"


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
    """``*`` any characters, ``?`` one: Action/NotAction and the String*Like operators."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """Resource/NotResource and the Arn* operators, as the IAM User Guide's Resource element page says:
    "You can use wildcard characters (* and ?) within the individual segments of an ARN (the parts separated
    by colons)"; ``*`` matches any characters of its segment, ``/`` included; "If the * wildcard is the last
    character of a resource ARN segment, it can expand to match beyond the colon boundaries"; elsewhere
    neither ``*`` nor ``?`` matches a colon."""
    regex = []
    for index, character in enumerate(pattern):
        if character == "*":
            last_of_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            regex.append(".*" if last_of_segment else "[^:]*")
        else:
            regex.append("[^:]" if character == "?" else re.escape(character))
    return re.fullmatch("".join(regex), arn, re.DOTALL) is not None


def _applies(statement: dict, request: Request) -> bool:
    if "Action" in statement:
        if not any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement["Action"])):
            return False
    elif any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(arn_matches(p, request.resource) for p in _as_list(statement["Resource"])):
            return False
    elif any(arn_matches(p, request.resource) for p in _as_list(statement.get("NotResource", []))):
        return False
    return all(
        _condition_holds(operator, key, _as_list(expected), (request.context or {}).get(key))
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def _in_network(expected: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


# Each negated operator is the negation of a positive one (the IAM User Guide's "Condition operators" page).
_OPERATORS = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": _glob,
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnLike": arn_matches,
    "Bool": lambda expected, actual: actual.lower() == expected.lower(),
    "IpAddress": _in_network,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def _condition_holds(operator: str, key: str, expected: list, actual) -> bool:
    set_operator, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if operator == "Null":  # "Null": {"key": "true"} holds when the key is absent
        return (actual is None) == (str(expected[0]).lower() == "true")
    negated = operator in _NEGATED
    match = _OPERATORS.get(_NEGATED.get(operator, operator))
    if match is None:
        raise ValueError(f"the twin cannot evaluate the IAM condition operator {operator!r} (key {key})")
    if actual is None:
        # "If the key that you specify in a policy condition is not present in the request context, the values
        # do not match and the condition is false. If the policy condition requires that the key is not matched,
        # such as StringNotLike or ArnNotLike, and the right key is not present, the condition is true" (IAM User
        # Guide, Condition operators); ForAllValues "also returns true if there are no context keys in the
        # request", ForAnyValue returns false (Multivalued context keys).
        if set_operator == "ForAllValues":
            return True
        if set_operator == "ForAnyValue":
            return False
        return if_exists or negated
    values = [str(value) for value in _as_list(actual)]
    matched = [any(match(str(e), value) for e in expected) for value in values]
    holds = [not m for m in matched] if negated else matched  # a negated operator NORs its values
    if set_operator == "ForAllValues":
        return all(holds)
    return any(holds)
