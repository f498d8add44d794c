"""`dogbreeds`: follow runs, list them and try the API, on a deployed stack (--stack) or the local twin (--twin);
list the registered model versions, approve or reject one, roll back to an earlier one; `doctor` checks that the
account can run the stack before anything is deployed or paid for."""

import argparse
import getpass
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dogbreeds_cli import doctor, monitor, plots, registry, target
from dogbreeds_cli.snapshot import collect
from dogbreeds_cli.watch import watch
from model_code import monitoring
from model_code import registry as records
from model_code.registry import APPROVED, PENDING, REJECTED

DEFAULT_TWIN_FILE = Path(".twin") / "up.json"
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def post_image(api_url: str, api_key: str, image: Path, timeout: float = 60) -> requests.Response:
    media_type = MEDIA_TYPES.get(image.suffix.lower(), "application/x-image")
    return requests.post(
        api_url, data=image.read_bytes(), headers={"Content-Type": media_type, "x-api-key": api_key}, timeout=timeout
    )


def predictions_view(image: Path, answer: dict) -> Group:
    """The image's path on a line of its own (never folded into a table's width), then its top labels as bars."""
    table = Table()
    table.add_column("label")
    table.add_column("probability", justify="right")
    table.add_column("")
    for prediction in answer["predictions"]:
        table.add_row(
            prediction["label"], f"{prediction['probability']:.3f}", "█" * round(prediction["probability"] * 20)
        )
    return Group(Text(f"{image}:"), table)


def command_watch(args, where: target.Target, console: Console) -> int:
    snapshot = watch(where.clients, where.execution_arn(args.execution), console, poll_seconds=args.poll)
    figure = args.plots and plots.write_run_plots(where.clients, snapshot, args.plots)
    if figure:
        console.print(f"plots: {', '.join(str(path) for path in figure)}")
    return 0 if snapshot.execution["status"] == "SUCCEEDED" else 1


RUNS_COLUMNS = ("run", "started", "status", "took", "test acc.")
# when a run names a model version: a column for it, and the accuracy's header shorter, to keep within 80 columns
RUNS_VERSION_COLUMNS = (*RUNS_COLUMNS[:-1], "acc.", "model")
VERSION_STATES = {APPROVED: "approved", PENDING: "pending", REJECTED: "rejected"}  # SageMaker's, in few letters


def version_states(where: target.Target) -> dict[str, str]:
    """Each registered version's ARN -> ``live`` or its approval in a word, as things stand now (empty for a stack
    or twin from before the registry)."""
    if not where.model_package_group:
        return {}
    live = registry.live_package(where.clients, where.endpoint_name) if where.endpoint_name else None
    return {
        summary["ModelPackageArn"]: "live"
        if summary["ModelPackageArn"] == live
        else VERSION_STATES.get(summary.get("ModelApprovalStatus", ""), "")
        for summary in registry.summaries(where.clients, where.model_package_group)
    }


def command_runs(args, where: target.Target, console: Console) -> int:
    """One line per run, newest first, within 80 columns: its test accuracy and the version it registered or
    released, with where that version stands now (live, approved, pending, rejected). Only a very long name folds,
    whole, onto a second line."""
    stepfunctions = where.clients("stepfunctions")
    listed = stepfunctions.list_executions(stateMachineArn=where.state_machine_arn, maxResults=args.limit)
    rows, packages = [], []
    for execution in listed["executions"]:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        output = json.loads(described.get("output") or "{}")
        started = described["startDate"]
        end = described.get("stopDate") or datetime.now(started.tzinfo)
        accuracy = output.get("gate", {}).get("test_accuracy")
        rows.append([
            described["name"],
            started.astimezone().strftime("%m-%d %H:%M"),
            described["status"],
            f"{(end - started).total_seconds():.0f} s",
            "" if accuracy is None else f"{accuracy:.4f}",
        ])  # fmt: skip
        packages.append(output.get("package"))
    columns = RUNS_COLUMNS
    if any(packages):
        columns, states = RUNS_VERSION_COLUMNS, version_states(where)
        for row, package in zip(rows, packages, strict=True):
            row.append(f"v{package['version']} {states.get(package['arn'], '')}".rstrip() if package else "")
    title = f"Runs of {where.state_machine_arn.rsplit(':', 1)[-1]}, newest first (started in local time)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("run", overflow="fold")  # what `watch` and `plots` take: never cut
    for column in columns[1:]:
        table.add_column(column, justify="right" if column in ("took", "test acc.", "acc.") else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


def command_predict(args, where: target.Target, console: Console) -> int:
    key, worst = where.api_key(), 0
    for image in args.images:
        response = post_image(where.api_url, key, image)
        answer = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        if response.status_code == 200:
            console.print(predictions_view(image, answer))
        else:
            reason = answer.get("message", response.text[:200])
            console.print(Text(f"{image}: {response.status_code} {reason}", style="red"))
            worst = 1
    return worst


def command_plots(args, where: target.Target, console: Console) -> int:
    snapshot = collect(where.clients, where.execution_arn(args.execution))
    written = plots.write_run_plots(where.clients, snapshot, args.out)
    for path in written:
        console.print(str(path))
    return 0 if written else 1


def command_doctor(args, console: Console) -> int:
    """The account behind --stack, --twin or your AWS configuration, against the configuration of that stack, that
    twin, or the checkout's template.yaml and samconfig.toml profile (before `sam deploy`)."""
    stack, twin, region = args.stack, args.twin, args.after_region or args.region
    if args.after_stack or args.after_twin:
        stack, twin = args.after_stack, args.after_twin
    twin = twin or (Path(os.environ["DOGBREEDS_TWIN"]) if "DOGBREEDS_TWIN" in os.environ and not stack else None)
    failed_rules = None
    if twin:
        if not twin.is_file():
            raise target.TargetError(f"{twin} does not exist: start the twin with `make up`")
        connection = json.loads(twin.read_text())
        if "parameters" not in connection:
            raise target.TargetError(f"{twin} was written by an older twin: restart it (`make up`)")
        clients, parameters, region = (
            target.from_connection(connection).clients,
            connection["parameters"],
            connection["region"],
        )
        source = f"the twin ({twin})"
    else:
        import boto3

        session = boto3.session.Session(region_name=region)
        clients, region = session.client, session.region_name
        if not region:
            raise target.TargetError("no region: name one with --region (or configure the AWS CLI's)")
        if stack:
            try:
                parameters = doctor.stack_parameters(clients("cloudformation"), stack)
            except Exception as error:
                raise target.TargetError(f"cannot read stack {stack}: {error}") from error
            source = f"stack {stack}"
        else:
            malformed = [item for item in args.parameter_overrides if "=" not in item]
            if malformed:
                raise target.TargetError(f"--parameter-overrides takes KEY=VALUE, got {' '.join(malformed)}")
            overrides = dict(item.split("=", 1) for item in args.parameter_overrides)
            try:
                parameters, failed_rules = doctor.checkout_configuration(
                    args.checkout, args.config_env, region, overrides
                )
            except (OSError, ValueError) as error:  # no template or samconfig there, an unknown profile or parameter
                raise target.TargetError(f"cannot read the configuration in {args.checkout}: {error}") from error
            source = f"template.yaml with samconfig.toml [{args.config_env}]"
    try:
        report = doctor.examine(parameters, clients("service-quotas"), region, source, failed_rules)
    except Exception as error:  # no credentials, no permission (servicequotas:List*), no network
        raise target.TargetError(f"cannot read the account's quotas through Service Quotas: {error}") from error
    return doctor.render(report, console)


def where_options(parser: argparse.ArgumentParser, after_command: bool = False) -> None:
    """--stack, --twin and --region, before the command or after it (``dogbreeds runs --twin F``): said after the
    command, a target replaces the one said before it (or the default)."""
    prefix = "after_" if after_command else ""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        dest=f"{prefix}stack",
        default=None if after_command else os.environ.get("DOGBREEDS_STACK"),
        help="a deployed stack's name",
    )
    where.add_argument(
        "--twin",
        dest=f"{prefix}twin",
        type=Path,
        default=None,  # target_of: DOGBREEDS_TWIN, else DEFAULT_TWIN_FILE (doctor: your AWS account)
        help=f"the file `make up` writes (default {DEFAULT_TWIN_FILE})",
    )
    region_help = "the stack's region (default: your AWS configuration's)"
    parser.add_argument("--region", dest=f"{prefix}region", help=region_help)


def target_of(args: argparse.Namespace) -> target.Target:
    stack, twin, region = args.stack, args.twin, args.after_region or args.region
    if args.after_stack or args.after_twin:
        stack, twin = args.after_stack, args.after_twin
    if stack:
        return target.from_stack(stack, region)
    return target.from_twin_file(twin or Path(os.environ.get("DOGBREEDS_TWIN", DEFAULT_TWIN_FILE)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dogbreeds", description=__doc__)
    where_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        subparser = commands.add_parser(name, help=help, description=help)
        where_options(subparser, after_command=True)
        return subparser

    watch_parser = command("watch", "follow a run live; exits 1 when it fails")
    watch_parser.add_argument("execution", nargs="?", help="execution name or ARN (default: the newest run)")
    watch_parser.add_argument("--poll", type=float, default=5.0, help="seconds between two looks (default 5)")
    watch_parser.add_argument("--plots", type=Path, help="when it ends, write the loss and tuning plots here")
    runs_parser = command("runs", "recent runs: start, status, duration, test accuracy, model version")
    runs_parser.add_argument("--limit", type=int, default=10)
    predict_parser = command("predict", "post images to the API and print the top breeds")
    predict_parser.add_argument("images", nargs="+", type=Path)
    plots_parser = command("plots", "write a run's loss curves and tuning chart")
    plots_parser.add_argument("execution", nargs="?", help="execution name or ARN (default: the newest run)")
    plots_parser.add_argument("--out", type=Path, default=Path("plots"))
    monitor_parser = command(
        "monitor", "the live model's answers against its test split: drift (PSI) and a plot; exits 1 on a major shift"
    )
    monitor_parser.add_argument("--hours", type=float, default=24.0, help="the window (default: the last 24 hours)")
    monitor_parser.add_argument("--out", type=Path, default=Path("plots"), help="where monitor.png goes")
    models_parser = command("models", "the registered model versions, newest first: approval, accuracy, dataset, live")
    models_parser.add_argument("--limit", type=int, default=20, help="at most this many versions (default 20)")
    approve_parser = command(
        "approve", "approve a version; in manual mode its release follows (like watch), in auto mode nothing deploys it"
    )
    approve_parser.add_argument("version", type=int, help="the version's number (`dogbreeds models`)")
    approve_parser.add_argument("--note", help="why, for the version's approval description")
    approve_parser.add_argument(
        "--wait", type=float, default=300.0, help="seconds to wait for the release to start (manual mode; default 300)"
    )
    approve_parser.add_argument("--poll", type=float, default=5.0, help="seconds between two looks (default 5)")
    reject_parser = command("reject", "reject a version (never the live one): it can no longer be deployed")
    reject_parser.add_argument("version", type=int, help="the version's number (`dogbreeds models`)")
    reject_parser.add_argument("--reason", required=True, help="why, for the version's approval description")
    rollback_parser = command(
        "rollback", "put an earlier Approved version back on the endpoint and follow it; exits 1 when it fails"
    )
    rollback_parser.add_argument(
        "version", type=int, nargs="?", help="the version's number (default: the one served before the live one)"
    )
    rollback_parser.add_argument("--poll", type=float, default=5.0, help="seconds between two looks (default 5)")
    doctor_parser = command(
        "doctor",
        "can the account run the stack? SageMaker quotas, region, Debugger; exits 1 when a run would fail",
    )
    doctor_parser.add_argument(
        "--checkout", type=Path, default=Path(), help="the folder with template.yaml and samconfig.toml (default: here)"
    )
    doctor_parser.add_argument(
        "--config-env",
        default="default",
        help="samconfig.toml's profile, as `sam deploy --config-env` (default: default)",
    )
    doctor_parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="as `sam deploy --parameter-overrides`",
    )
    return parser


def command_monitor(args, where: target.Target, console: Console) -> int:
    """The live model's answers over the last ``--hours`` against its test-split baseline; exits 1 on a major shift."""
    if not (where.endpoint_name and where.bucket):
        raise target.TargetError("no endpoint or bucket named here: restart the twin (`make up`) or name the --stack")
    try:
        model = monitor.live_model(where.clients, where.endpoint_name)
        until = monitor.now()
        records = monitor.window_records(
            where.clients, where.bucket, where.predictions_prefix, until - timedelta(hours=args.hours), until
        )
        found = monitor.drift(model, records)
    except (monitor.NoBaseline, ValueError) as error:
        raise target.TargetError(str(error)) from error
    table = Table(title=f"{model.endpoint}: {model.version or model.model_name}, last {args.hours:g} h")
    table.add_column("")
    table.add_column("PSI", justify="right")
    table.add_column("verdict")
    for name, psi in (("top-1 confidence", found.confidence_psi), ("predicted breeds", found.classes_psi)):
        table.add_row(name, f"{psi:.3f}", monitoring.drift_verdict(psi, found.images))
    console.print(table)
    console.print(
        f"{found.images} images in {found.requests} logged requests against {model.baseline['samples']} test images: "
        f"{found.verdict}"
    )
    console.print(f"plot: {monitor.write_monitor_plot(model, found, args.hours, args.out)}")
    return 1 if found.verdict == "major shift" else 0


def who() -> str:
    """Whom an approval description names: the local user (SageMaker records the IAM caller itself, in
    LastModifiedBy)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in the password database
        return "an unnamed user"


def now() -> datetime:
    return datetime.now(UTC)


def registry_of(where: target.Target, needs_endpoint: bool = False) -> str:
    """The target's package group; TargetError when the stack or twin predates the registry."""
    if not where.model_package_group:
        raise target.TargetError(
            "no model package group named here: update the stack (`sam deploy`; its output ModelPackageGroupName) "
            "or restart the twin (`make up`)"
        )
    if needs_endpoint and not where.endpoint_name:
        raise target.TargetError("no endpoint named here: restart the twin (`make up`) or name the --stack")
    return where.model_package_group


APPROVAL_SHOWN = {PENDING: "Pending"}  # the rest as SageMaker says them


def command_models(args, where: target.Target, console: Console) -> int:
    """The group's versions, newest first, with their test accuracy and loss, dataset and approval; the live one
    marked."""
    if args.limit < 1:
        raise target.TargetError(f"--limit must be at least 1, not {args.limit}")
    group = registry_of(where)
    listed = registry.summaries(where.clients, group)
    live = registry.live_package(where.clients, where.endpoint_name) if where.endpoint_name else None
    if not listed:
        console.print(f"No model version in {group} yet: each run registers the model it trains.")
        return 0
    table = Table(
        title=f"Versions of {group}, newest first (local time)",
        title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    numbers = ("test acc.", "test loss")
    for column in ("version", "created", "approval", *numbers, "dataset", ""):
        table.add_column(column, justify="right" if column in numbers else "left", no_wrap=column != "dataset")
    for version in registry.described(where.clients, listed[: args.limit]):
        accuracy, loss = version.test_accuracy, version.metadata.get(records.TEST_LOSS)
        table.add_row(
            f"v{version.number}",
            datetime.fromisoformat(version.created).astimezone().strftime("%Y-%m-%d %H:%M"),
            APPROVAL_SHOWN.get(version.approval, version.approval),
            "" if accuracy is None else f"{accuracy:.4f}",
            "" if loss is None else f"{float(loss):.4f}",
            version.dataset,
            Text("live", style="bold green") if version.arn == live else "",
        )
    console.print(table)
    if len(listed) > args.limit:
        console.print(f"{args.limit} of {len(listed)} versions shown: --limit {len(listed)} shows them all")
    if live is None:
        console.print("No version is live: nothing is served, or the endpoint serves a model made before the registry")
    return 0


def command_approve(args, where: target.Target, console: Console) -> int:
    """Approve a version. In manual mode the approval's event starts a release: follow it like `watch`."""
    group = registry_of(where)
    version = registry.find(where.clients, group, args.version)
    if version.approval == APPROVED:
        console.print(f"v{version.number} is already Approved: nothing to do")
        return 0
    description = registry.approval_description("approved", who(), args.note)
    manual = where.approval_mode == records.MANUAL
    before = registry.release_executions(where.clients, where.state_machine_arn, version.number) if manual else []
    registry.set_approval(where.clients, version, APPROVED, description)
    console.print(f"Approved {version.summary()}")
    if not manual:
        console.print(
            f"Nothing deploys an approved version in auto mode (a run deploys the model that passes its gate): "
            f"put v{version.number} on the endpoint with `dogbreeds rollback {version.number}`"
        )
        return 0
    console.print(f"Waiting for the release the approval starts (an execution named release-v{version.number}-...)")
    deadline = time.monotonic() + args.wait
    while (release := registry.new_release(where.clients, where.state_machine_arn, version.number, before)) is None:
        if time.monotonic() >= deadline:
            console.print(
                Text(
                    f"No release of v{version.number} started within {args.wait:g} s of its approval: is the stack's "
                    f"ApprovalMode manual? v{version.number} stays Approved; `dogbreeds runs` lists the runs",
                    style="red",
                )
            )
            return 1
        time.sleep(args.poll)
    return follow(where, release, console, args.poll)


def command_reject(args, where: target.Target, console: Console) -> int:
    """Reject a version; never the live one (the endpoint would serve a rejected model)."""
    if not args.reason.strip():
        raise target.TargetError("--reason must say why the version is rejected")
    group = registry_of(where, needs_endpoint=True)
    version = registry.find(where.clients, group, args.version)
    if version.approval == REJECTED:
        console.print(f"v{version.number} is already Rejected: nothing to do")
        return 0
    if version.arn == registry.live_package(where.clients, where.endpoint_name):
        raise target.TargetError(
            f"v{version.number} is live: rejecting it would leave the endpoint serving a rejected model. Roll back "
            f"first (`dogbreeds rollback`), then reject it"
        )
    registry.set_approval(
        where.clients, version, REJECTED, registry.approval_description("rejected", who(), args.reason)
    )
    console.print(f"Rejected {version.summary()}: nothing deploys it unless it is approved again")
    return 0


def command_rollback(args, where: target.Target, console: Console) -> int:
    """Put an earlier Approved version back on the endpoint through the pipeline's Deploy states; follow it."""
    group = registry_of(where, needs_endpoint=True)
    listed = registry.summaries(where.clients, group)
    live = registry.live_package(where.clients, where.endpoint_name)
    if args.version is None:
        approved = [summary for summary in listed if summary.get("ModelApprovalStatus") == APPROVED]
        deployed = registry.deployed_packages(where.clients, where.state_machine_arn)
        chosen = registry.rollback_choice(list(registry.described(where.clients, approved)), live, deployed)
    else:
        chosen = registry.find(where.clients, group, args.version, listed)
        if chosen.approval != APPROVED:
            raise target.TargetError(
                f"v{chosen.number} is {chosen.approval}: only an Approved version can be released "
                f"(`dogbreeds approve {chosen.number}` first)"
            )
        if chosen.arn == live:
            raise target.TargetError(f"v{chosen.number} is live already: nothing to roll back")
    live_number = registry.number_of(live, listed)
    reason = f"rollback by {who()}" + (f" (v{live_number} was live)" if live_number is not None else "")
    name = records.rollback_execution_name(chosen.number, now())
    started = where.clients("stepfunctions").start_execution(
        stateMachineArn=where.state_machine_arn,
        name=name,
        input=json.dumps(records.release_input(name, chosen.arn, reason)),
    )
    console.print(f"Rolling back to {chosen.summary()}: execution {name}")
    return follow(where, started["executionArn"], console, args.poll)


def follow(where: target.Target, execution_arn: str, console: Console, poll: float) -> int:
    """Follow a release like `watch`: exit 0 when it succeeds, 1 otherwise."""
    snapshot = watch(where.clients, execution_arn, console, poll_seconds=poll)
    return 0 if snapshot.execution["status"] == "SUCCEEDED" else 1


COMMANDS = {
    "watch": command_watch,
    "runs": command_runs,
    "predict": command_predict,
    "plots": command_plots,
    "monitor": command_monitor,
    "models": command_models,
    "approve": command_approve,
    "reject": command_reject,
    "rollback": command_rollback,
}


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = console or Console()
    try:
        if args.command == "doctor":  # no run to look at: the account and the configuration
            return command_doctor(args, console)
        where = target_of(args)
        return COMMANDS[args.command](args, where, console)
    except target.TargetError as error:
        console.print(Text(str(error), style="red"))
        return 2
    except KeyboardInterrupt:  # Ctrl-C ends a watch; the run itself goes on
        return 130


if __name__ == "__main__":
    sys.exit(main())
