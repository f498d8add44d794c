"""The execution roles SageMaker assumes for its jobs and endpoints, and what a job or an endpoint does with one."""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import boto3

from local_twin import iam
from local_twin.moto_stack import DUMMY_CREDENTIALS
from local_twin.sagemaker import authorization
from local_twin.sagemaker.errors import SageMakerError


class ExecutionRoles:
    """SageMaker's side of STS and IAM: whether it may assume a role (its trust policy), and the sessions its jobs
    and endpoints act with. One object owns the twin's STS (``assume``), its IAM (``directory``), the denial log
    and the endpoint that the sessions' clients reach, so that the parts get sessions without reaching the service."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        assume: Callable[[str, str], dict[str, str]] | None,
        directory: iam.Directory,
        denials: iam.DenialLog,
    ):
        self.endpoint_url = endpoint_url
        self.region = region
        self._assume = assume
        self.directory = directory
        self.denials = denials

    def check_trust(self, role_arn: str, source_arn: str | None) -> None:
        """SageMaker assumes ``role_arn`` for the resource ``source_arn`` (None: a tuning job or its trial):
        AccessDenied (kept in ``denials``) unless the role's trust policy allows it with the keys sent."""
        context = authorization.source_keys(source_arn)
        self.directory.assume_role_as_service(role_arn, authorization.SAGEMAKER_SERVICE, context, self.denials)

    def credentials(self, role_arn: str, session_name: str, source_arn: str | None) -> dict[str, str]:
        """The credentials a job or an endpoint holds: a session of the execution role it was given, which
        SageMaker must be able to assume (a refusal reads as AWS's FailureReason for it). Without ``assume`` (a
        standalone local SageMaker) the administrator's."""
        try:
            self.check_trust(role_arn, source_arn)
        except iam.AccessDenied as error:
            raise SageMakerError("ClientError", f"SageMaker was unable to assume the role '{role_arn}'") from error
        return self._assume(role_arn, session_name) if self._assume else dict(DUMMY_CREDENTIALS)

    def principal(self, role_arn: str, session_name: str) -> iam.Principal:
        """Who a job or an endpoint acts as: a session of its execution role (the administrator when this
        local SageMaker runs standalone, without sessions)."""
        return self.directory.session(role_arn, session_name) if self._assume else iam.ADMIN

    def session(self, role_arn: str, session_name: str, source_arn: str | None) -> "RoleSession":
        return RoleSession(self, role_arn, session_name, source_arn)


@dataclass(frozen=True)
class RoleSession:
    """One job's or endpoint's execution role (``role_arn`` as ``session_name``, assumed for ``source_arn``): its
    credentials, its clients and its log writes. Each use assumes the role again, as each of SageMaker's does."""

    roles: ExecutionRoles
    role_arn: str
    session_name: str
    source_arn: str | None

    def credentials(self) -> dict[str, str]:
        return self.roles.credentials(self.role_arn, self.session_name, self.source_arn)

    def authorize(self, requests: list[iam.Request]) -> None:
        """The role's permissions for ``requests``: iam.AccessDenied (kept in the denials) unless they allow them."""
        iam.authorize(self.roles.principal(self.role_arn, self.session_name), requests, self.roles.denials)

    def client(self, service: str):
        """A client of ``service`` (S3, CloudWatch Logs) acting as the role, through the twin's IAM gateway."""
        credentials = self.credentials()
        return boto3.client(
            service,
            endpoint_url=self.roles.endpoint_url,
            region_name=self.roles.region,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        )

    def send_logs(self, group: str, stream: str, lines: list[str]) -> str | None:
        """Write ``lines`` to a CloudWatch Logs stream as SageMaker does for a job or an endpoint: with its execution
        role, creating the group when missing. Returns why it failed (a denial loses the logs, not the job)."""
        try:
            logs = self.client("logs")
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            stamp = int(time.time() * 1000)
            lines = lines or ["(no output)"]
            for start in range(0, len(lines), 1000):  # well under PutLogEvents' 10,000 events and 1 MB
                events = [{"timestamp": stamp, "message": line or " "} for line in lines[start : start + 1000]]
                logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except Exception as error:  # SageMaker too keeps a job's outcome when its logs cannot be written
            return f"{type(error).__name__}: {error}"
        return None
