"""`dogbreeds models|approve|reject|rollback`: the registry's reads and the exact UpdateModelPackage and
StartExecution requests (botocore's Stubber checks each against the service model, and any call not expected
fails), the rollback's default choice, and every refusal's words and exit status. Following a release is `watch`'s
(tests/cli/test_watch.py): here it is replaced by a recorder."""

import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from rich.console import Console

from dogbreeds_cli import cli, target
from dogbreeds_cli import registry as cli_registry
from model_code import registry

REGION, ACCOUNT = "eu-west-1", "123456789012"
GROUP, ENDPOINT = "dogbreeds-models", "dogbreeds-endpoint"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:dogbreeds-pipeline"
EXECUTION = STATE_MACHINE.replace(":stateMachine:", ":execution:")
CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 3, 15, 0, tzinfo=UTC)


def arn(number: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/{number}"


def record(number: int, approval: str, accuracy: float = 0.99, loss: float | None = None) -> dict:
    """DescribeModelPackage of version ``number``, with the metadata Register writes."""
    fields = {
        registry.TEST_ACCURACY: accuracy,
        registry.TEST_LOSS: loss,
        registry.DATASET_URI: "s3://data/datasets/digits.zip",
        registry.DATASET_VERSION: f"ver{number}",
    }
    return {
        "ModelPackageName": GROUP, "ModelPackageGroupName": GROUP, "ModelPackageVersion": number,
        "ModelPackageArn": arn(number), "CreationTime": CREATED.replace(day=number), "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []}, "ModelApprovalStatus": approval,
        "CustomerMetadataProperties": registry.package_metadata(fields),
    }  # fmt: skip


def summary(described: dict) -> dict:
    keys = ("ModelPackageArn", "ModelPackageVersion", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus")
    return {key: described[key] for key in keys} | {"ModelPackageGroupName": GROUP}


LISTING = {"ModelPackageGroupName": GROUP, "ModelPackageType": "Versioned", "SortBy": "CreationTime",
           "SortOrder": "Descending"}  # fmt: skip


class Account:
    """Stubbed SageMaker and Step Functions clients, and a Target over them."""

    def __init__(self, approval_mode: str = "auto", group: str = GROUP, endpoint: str = ENDPOINT):
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        self.stubs = {"sagemaker": Stubber(self.sagemaker), "stepfunctions": Stubber(self.stepfunctions)}
        for stub in self.stubs.values():
            stub.activate()
        clients = {"sagemaker": self.sagemaker, "stepfunctions": self.stepfunctions}
        self.where = target.Target(
            clients.__getitem__, STATE_MACHINE, "https://api", lambda: "key", endpoint_name=endpoint,
            model_package_group=group, approval_mode=approval_mode,
        )  # fmt: skip

    def listed(self, *records: dict, page_size: int = 0) -> None:
        """ListModelPackages answering ``records`` (in pages of ``page_size``, when given)."""
        pages = [records[i : i + page_size] for i in range(0, len(records), page_size)] if page_size else [records]
        for index, page in enumerate(pages):
            answer = {"ModelPackageSummaryList": [summary(described) for described in page]}
            asked = LISTING | ({"NextToken": f"page{index}"} if index else {})
            if index + 1 < len(pages):
                answer["NextToken"] = f"page{index + 1}"
            self.stubs["sagemaker"].add_response("list_model_packages", answer, asked)

    def described(self, *records: dict) -> None:
        for described in records:
            self.stubs["sagemaker"].add_response(
                "describe_model_package", described, {"ModelPackageName": described["ModelPackageArn"]}
            )

    def live(self, package_arn: str | None) -> None:
        """The endpoint serves a model made from ``package_arn`` (None: a model made directly, without one)."""
        stub, sagemaker_arn = self.stubs["sagemaker"], f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
        stub.add_response(
            "describe_endpoint",
            {"EndpointName": ENDPOINT, "EndpointArn": f"{sagemaker_arn}:endpoint/{ENDPOINT}", "EndpointConfigName": "c",
             "EndpointStatus": "InService", "CreationTime": CREATED, "LastModifiedTime": CREATED},
            {"EndpointName": ENDPOINT},
        )  # fmt: skip
        stub.add_response(
            "describe_endpoint_config",
            {"EndpointConfigName": "c", "EndpointConfigArn": f"{sagemaker_arn}:endpoint-config/c",
             "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m"}], "CreationTime": CREATED},
            {"EndpointConfigName": "c"},
        )  # fmt: skip
        container = {"ModelPackageName": package_arn} if package_arn else {"ModelDataUrl": "s3://data/m.tar.gz"}
        stub.add_response(
            "describe_model",
            {"ModelName": "m", "ModelArn": f"{sagemaker_arn}:model/m", "CreationTime": CREATED,
             "PrimaryContainer": container},
            {"ModelName": "m"},
        )  # fmt: skip

    def updated(self, number: int, status: str, description: str) -> None:
        self.stubs["sagemaker"].add_response(
            "update_model_package",
            {"ModelPackageArn": arn(number)},
            {"ModelPackageArn": arn(number), "ModelApprovalStatus": status, "ApprovalDescription": description},
        )

    def executions(self, *names: str) -> None:
        """One ListExecutions answer (newest first), as `approve` asks it."""
        self.stubs["stepfunctions"].add_response(
            "list_executions",
            {"executions": [{"executionArn": f"{EXECUTION}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
                             "status": "RUNNING", "startDate": NOW} for name in names]},
            {"stateMachineArn": STATE_MACHINE, "maxResults": 100},
        )  # fmt: skip

    def deployed(self, *numbers: int) -> None:
        """Step Functions' succeeded runs, newest first, each having deployed version ``number`` (0: a run that
        deployed nothing, e.g. one awaiting approval)."""
        names = [f"run-{index}" for index in range(len(numbers))]
        self.stubs["stepfunctions"].add_response(
            "list_executions",
            {"executions": [{"executionArn": f"{EXECUTION}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
                             "status": "SUCCEEDED", "startDate": NOW} for name in names]},
            {"stateMachineArn": STATE_MACHINE, "statusFilter": "SUCCEEDED"},
        )  # fmt: skip
        for name, number in zip(names, numbers, strict=True):
            output = {"package": {"arn": arn(number)}} | ({"deployment": {"action": "update"}} if number else {})
            self.stubs["stepfunctions"].add_response(
                "describe_execution",
                {"executionArn": f"{EXECUTION}:{name}", "stateMachineArn": STATE_MACHINE, "status": "SUCCEEDED",
                 "startDate": NOW, "output": json.dumps(output)},
                {"executionArn": f"{EXECUTION}:{name}"},
            )  # fmt: skip

    def rolls_back(self, number: int, live: int) -> None:
        """The StartExecution `rollback` sends to put version ``number`` back while ``live`` serves (at NOW)."""
        name = f"rollback-v{number}-20261204031500"
        release = {"run_id": name, "release": {"model_package_arn": arn(number),
                                                "reason": f"rollback by alice (v{live} was live)"}}  # fmt: skip
        self.stubs["stepfunctions"].add_response(
            "start_execution",
            {"executionArn": f"{EXECUTION}:{name}", "startDate": NOW},
            {"stateMachineArn": STATE_MACHINE, "name": name, "input": json.dumps(release)},
        )

    def run(self, monkeypatch, *argv: str, ends: str = "SUCCEEDED") -> tuple[int, str, list[str]]:
        """`dogbreeds ARGV` against this account: its exit status, its words, and the executions it followed
        (each ending ``ends``). Every stubbed answer must have been asked for."""
        followed = []

        def watch(clients, execution_arn, console, poll_seconds):
            followed.append(execution_arn)
            return SimpleNamespace(execution={"status": ends})

        monkeypatch.setattr(cli, "target_of", lambda args: self.where)
        monkeypatch.setattr(cli, "watch", watch)
        monkeypatch.setattr(cli, "who", lambda: "alice")
        monkeypatch.setattr(cli, "now", lambda: NOW)
        console = Console(record=True, width=120, force_terminal=False)
        status = cli.main(list(argv), console=console)
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()
        return status, " ".join(console.export_text().split()), followed


V1 = record(1, registry.APPROVED, accuracy=0.9852, loss=0.0412)
V2 = record(2, registry.REJECTED, accuracy=0.95)
V3 = record(3, registry.APPROVED, accuracy=0.9926)
V4 = record(4, registry.PENDING, accuracy=0.9963)


# models


def test_models_lists_every_page_newest_first_and_marks_the_live_version(monkeypatch):
    account = Account()
    account.listed(V4, V3, V2, V1, page_size=3)
    account.live(arn(3))
    account.described(V4, V3, V2, V1)
    console = Console(record=True, width=100, force_terminal=False)
    monkeypatch.setattr(cli, "target_of", lambda args: account.where)
    assert cli.main(["models"], console=console) == 0
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    rows = {line.split()[0]: line.split() for line in lines if re.match(r" v\d", line)}

    def created(described):
        return described["CreationTime"].astimezone().strftime("%Y-%m-%d %H:%M").split()

    assert rows == {
        "v4": ["v4", *created(V4), "Pending", "0.9963", "digits.zip@ver4"],
        "v3": ["v3", *created(V3), "Approved", "0.9926", "digits.zip@ver3", "live"],
        "v2": ["v2", *created(V2), "Rejected", "0.9500", "digits.zip@ver2"],
        "v1": ["v1", *created(V1), "Approved", "0.9852", "0.0412", "digits.zip@ver1"],
    }
    assert list(rows) == ["v4", "v3", "v2", "v1"]
    assert lines[0] == f"Versions of {GROUP}, newest first (local time)"
    account.stubs["sagemaker"].assert_no_pending_responses()


def test_models_describes_only_the_versions_shown_and_says_how_to_see_the_rest(monkeypatch):
    account = Account()
    account.listed(V4, V3, V2, V1)
    account.live(None)  # a model from before the registry
    account.described(V4, V3)
    status, text, _ = account.run(monkeypatch, "models", "--limit", "2")
    assert status == 0
    assert "2 of 4 versions shown: --limit 4 shows them all" in text
    assert "No version is live: nothing is served, or the endpoint serves a model made before the registry" in text
    assert " live " not in text


def test_an_empty_group_is_said_in_words(monkeypatch):
    account = Account()
    account.listed()
    account.live(None)
    assert account.run(monkeypatch, "models") == (
        0,
        f"No model version in {GROUP} yet: each run registers the model it trains.",
        [],
    )


# approve


def test_approve_in_auto_mode_approves_and_says_that_nothing_deploys_it(monkeypatch):
    account = Account("auto")
    account.listed(V4, V3, V2, V1)
    account.described(V4)
    account.updated(4, "Approved", "approved by alice with dogbreeds: beats v3 on the new photos")
    status, text, followed = account.run(monkeypatch, "approve", "4", "--note", "beats v3 on the new photos")
    assert (status, followed) == (0, [])
    assert text == (
        "Approved v4 (test accuracy 0.9963, dataset digits.zip@ver4) Nothing deploys an approved version in auto "
        "mode (a run deploys the model that passes its gate): put v4 on the endpoint with `dogbreeds rollback 4`"
    )


@pytest.mark.parametrize(("ends", "exit_status"), [("SUCCEEDED", 0), ("FAILED", 1)])
def test_approve_in_manual_mode_follows_the_release_the_approval_started(monkeypatch, ends, exit_status):
    account = Account("manual")
    account.listed(V4, V3, V2, V1)
    account.described(V4)
    earlier = "release-v4-00000000000000aa"  # an earlier approval's release (v4 rejected again since)
    account.executions(earlier, "release-v41-0123456789abcdef", "digits-1234")
    account.updated(4, "Approved", "approved by alice with dogbreeds")
    account.executions(earlier)  # the event is not there yet
    account.executions("release-v4-0123456789abcdef", "release-v4-fedcba9876543210", earlier)  # it came twice
    status, text, followed = account.run(monkeypatch, "approve", "4", "--poll", "0", ends=ends)
    assert status == exit_status
    assert followed == [f"{EXECUTION}:release-v4-fedcba9876543210"]  # the first one started, not the duplicate
    assert "Waiting for the release the approval starts (an execution named release-v4-...)" in text


def test_approve_in_manual_mode_without_a_release_says_what_to_check_and_exits_1(monkeypatch):
    account = Account("manual")
    account.listed(V4)
    account.described(V4)
    account.executions()
    account.updated(4, "Approved", "approved by alice with dogbreeds")
    account.executions()
    status, text, followed = account.run(monkeypatch, "approve", "4", "--wait", "0", "--poll", "0")
    assert (status, followed) == (1, [])
    assert text.endswith(
        "No release of v4 started within 0 s of its approval: is the stack's ApprovalMode manual? v4 stays "
        "Approved; `dogbreeds runs` lists the runs"
    )


def test_approving_an_approved_version_changes_nothing(monkeypatch):
    account = Account("manual")
    account.listed(V4, V3)
    account.described(V3)
    assert account.run(monkeypatch, "approve", "3") == (0, "v3 is already Approved: nothing to do", [])


def test_an_unknown_version_is_refused_with_the_versions_there_are(monkeypatch):
    account = Account()
    account.listed(V4, V3, V2, V1)
    assert account.run(monkeypatch, "approve", "9") == (
        2,
        f"{GROUP} has no version 9: its versions are v1 to v4 (`dogbreeds models` lists them)",
        [],
    )


def test_a_note_sagemaker_could_not_store_is_refused_before_anything_changes(monkeypatch):
    account = Account()
    account.listed(V4)
    account.described(V4)
    status, text, _ = account.run(monkeypatch, "approve", "4", "--note", "x" * 1000)
    assert status == 2
    assert text == "the approval description would be 1034 characters; SageMaker stores at most 1024: say it shorter"


# reject


def test_the_description_limit_is_botocores():
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("UpdateModelPackage").input_shape.members["ApprovalDescription"]
    assert shape.metadata["max"] == cli_registry.MAX_APPROVAL_DESCRIPTION


def test_reject_sends_the_reason(monkeypatch):
    account = Account()
    account.listed(V4, V3)
    account.described(V4)
    account.live(arn(3))
    account.updated(4, "Rejected", "rejected by alice with dogbreeds: confuses beagles with foxhounds")
    status, text, _ = account.run(monkeypatch, "reject", "4", "--reason", "confuses beagles with foxhounds")
    assert (status, text) == (
        0,
        "Rejected v4 (test accuracy 0.9963, dataset digits.zip@ver4): nothing deploys it unless it is approved again",
    )


def test_rejecting_the_live_version_is_refused(monkeypatch):
    account = Account()
    account.listed(V4, V3)
    account.described(V3)
    account.live(arn(3))
    assert account.run(monkeypatch, "reject", "3", "--reason", "worse in production") == (
        2,
        "v3 is live: rejecting it would leave the endpoint serving a rejected model. Roll back first "
        "(`dogbreeds rollback`), then reject it",
        [],
    )


def test_a_reject_without_a_reason_is_refused_and_a_rejected_one_left_alone(monkeypatch):
    assert Account().run(monkeypatch, "reject", "4", "--reason", " ") == (
        2,
        "--reason must say why the version is rejected",
        [],
    )
    account = Account()
    account.listed(V2)
    account.described(V2)
    assert account.run(monkeypatch, "reject", "2", "--reason", "again") == (
        0,
        "v2 is already Rejected: nothing to do",
        [],
    )


# rollback


def test_rollback_by_default_releases_the_version_served_before_the_live_one(monkeypatch):
    account = Account()
    v5 = record(5, registry.APPROVED)  # live now
    listed = (V4, v5, V3, V2, V1)
    account.listed(*listed)
    account.live(arn(5))
    account.described(v5, V3, V1)  # the Approved ones
    account.deployed(5, 0, 3)  # newest first: v5's run, a run awaiting approval, v3's run (v1's is not read)
    account.rolls_back(3, live=5)
    status, text, followed = account.run(monkeypatch, "rollback", "--poll", "0")
    assert (status, followed) == (0, [f"{EXECUTION}:rollback-v3-20261204031500"])
    assert text == (
        "Rolling back to v3 (test accuracy 0.9926, dataset digits.zip@ver3): execution rollback-v3-20261204031500"
    )


def test_a_named_rollback_exits_as_its_release_ends(monkeypatch):
    account = Account()
    account.listed(V4, V3, V2, V1)
    account.live(arn(3))
    account.described(V1)
    account.rolls_back(1, live=3)
    status, _, followed = account.run(monkeypatch, "rollback", "1", "--poll", "0", ends="FAILED")
    assert (status, followed) == (1, [f"{EXECUTION}:rollback-v1-20261204031500"])


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("4", "v4 is PendingManualApproval: only an Approved version can be released (`dogbreeds approve 4` first)"),
        ("2", "v2 is Rejected: only an Approved version can be released (`dogbreeds approve 2` first)"),
        ("3", "v3 is live already: nothing to roll back"),
    ],
)
def test_a_rollback_to_a_version_that_cannot_be_released_is_refused(monkeypatch, version, message):
    account = Account()
    account.listed(V4, V3, V2, V1)
    account.live(arn(3))
    account.described({"4": V4, "2": V2, "3": V3}[version])
    assert account.run(monkeypatch, "rollback", version) == (2, message, [])


def test_a_rollback_with_nothing_served_before_is_refused(monkeypatch):
    account = Account()
    account.listed(V4, V3, V2)
    account.live(arn(3))
    account.described(V3)
    account.deployed(3, 2)  # v2 was deployed, then rejected
    assert account.run(monkeypatch, "rollback") == (
        2,
        "no version to roll back to: no Approved version other than the live one was deployed in the runs Step "
        "Functions still holds (90 days; name one: `dogbreeds rollback VERSION`; `dogbreeds models` lists them)",
        [],
    )


def version(number: int, approval: str) -> registry.Version:
    return registry.Version.from_described(record(number, approval))


def test_the_default_rollback_is_the_newest_deployment_of_an_approved_version_other_than_the_live_one():
    versions = [version(6, registry.APPROVED), version(5, registry.REJECTED), version(4, registry.APPROVED),
                version(3, registry.APPROVED), version(2, registry.APPROVED)]  # fmt: skip
    # deployments newest first: v6 (live), v5 (served, then rejected), v3 served again after v2
    deployed = [arn(6), arn(5), arn(3), arn(2), arn(3)]
    assert cli_registry.rollback_choice(versions, arn(6), deployed).number == 3
    assert cli_registry.rollback_choice(versions, None, deployed).number == 6  # nothing registered live
    with pytest.raises(target.TargetError, match="no version to roll back to"):
        cli_registry.rollback_choice(versions, arn(6), [arn(6), arn(5)])


# the target


@pytest.mark.parametrize("command", [["models"], ["approve", "1"], ["reject", "1", "--reason", "r"], ["rollback"]])
def test_a_stack_or_twin_from_before_the_registry_is_refused_in_words(monkeypatch, command):
    assert Account(group="").run(monkeypatch, *command) == (
        2,
        "no model package group named here: update the stack (`sam deploy`; its output ModelPackageGroupName) or "
        "restart the twin (`make up`)",
        [],
    )


@pytest.mark.parametrize("command", [["reject", "1", "--reason", "r"], ["rollback"]])
def test_what_needs_the_live_version_is_refused_without_an_endpoint(monkeypatch, command):
    assert Account(endpoint="").run(monkeypatch, *command) == (
        2,
        "no endpoint named here: restart the twin (`make up`) or name the --stack",
        [],
    )


def test_a_limit_below_one_is_refused(monkeypatch):
    assert Account().run(monkeypatch, "models", "--limit", "0") == (2, "--limit must be at least 1, not 0", [])


def test_the_twin_connection_names_the_group_and_the_approval_mode():
    connection = {"region": REGION, "endpoints": {}, "state_machine_arn": STATE_MACHINE, "api_url": "u", "api_key": "k"}
    older = target.from_connection(connection)
    assert (older.model_package_group, older.approval_mode) == ("", "auto")
    manual = target.from_connection(
        connection | {"model_package_group": GROUP, "parameters": {"ApprovalMode": "manual"}}
    )
    assert (manual.model_package_group, manual.approval_mode) == (GROUP, "manual")


def test_runs_name_each_runs_version_and_where_it_stands_now_within_80_columns(monkeypatch):
    account = Account()
    runs = {  # name -> the run's output
        "rollback-v1-20261204031500": {"package": {"arn": arn(1), "version": 1}},
        "digits-00000000000000c4": {"gate": {"test_accuracy": 0.9963}, "package": {"arn": arn(4), "version": 4}},
        "digits-00000000000000b2": {"gate": {"test_accuracy": 0.95}, "package": {"arn": arn(2), "version": 2}},
        "notes-00000000000000a1": {},  # refused before training: no version
    }
    account.stubs["stepfunctions"].add_response(
        "list_executions",
        {"executions": [{"executionArn": f"{EXECUTION}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
                         "status": "SUCCEEDED", "startDate": NOW} for name in runs]},
        {"stateMachineArn": STATE_MACHINE, "maxResults": 10},
    )  # fmt: skip
    for name, output in runs.items():
        account.stubs["stepfunctions"].add_response(
            "describe_execution",
            {"executionArn": f"{EXECUTION}:{name}", "stateMachineArn": STATE_MACHINE, "name": name,
             "status": "SUCCEEDED", "startDate": NOW, "stopDate": NOW, "output": json.dumps(output)},
            {"executionArn": f"{EXECUTION}:{name}"},
        )  # fmt: skip
    account.live(arn(1))
    account.listed(V4, V3, V2, V1)
    monkeypatch.setattr(cli, "target_of", lambda args: account.where)
    console = Console(record=True, width=80, force_terminal=False)
    assert cli.main(["runs"], console=console) == 0
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert max(map(len, lines)) <= 80
    rows = {line.split()[0]: line.split()[3:] for line in lines if line.split() and line.split()[0] in runs}
    assert rows == {
        "rollback-v1-20261204031500": ["SUCCEEDED", "0", "s", "v1", "live"],
        "digits-00000000000000c4": ["SUCCEEDED", "0", "s", "0.9963", "v4", "pending"],
        "digits-00000000000000b2": ["SUCCEEDED", "0", "s", "0.9500", "v2", "rejected"],
        "notes-00000000000000a1": ["SUCCEEDED", "0", "s"],
    }
    for stub in account.stubs.values():
        stub.assert_no_pending_responses()
