"""`dogbreeds`: follow runs, list them and try the API, on a deployed stack (--stack) or the local twin (--twin);
`doctor` checks that the account can run the stack before anything is deployed or paid for."""

import argparse
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import requests
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from dogbreeds_cli import doctor, monitor, plots, target
from dogbreeds_cli.snapshot import collect
from dogbreeds_cli.watch import watch
from model_code import monitoring

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


def command_runs(args, where: target.Target, console: Console) -> int:
    """One line per run, newest first, within 80 columns (a run's name starts with its dataset's; a succeeded run's
    model is the one served). Only a very long name folds, whole, onto a second line."""
    stepfunctions = where.clients("stepfunctions")
    listed = stepfunctions.list_executions(stateMachineArn=where.state_machine_arn, maxResults=args.limit)
    title = f"Runs of {where.state_machine_arn.rsplit(':', 1)[-1]}, newest first (started in local time)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("run", overflow="fold")  # what `watch` and `plots` take: never cut
    for column in RUNS_COLUMNS[1:]:
        table.add_column(column, justify="right" if column in ("took", "test acc.") else "left", no_wrap=True)
    for execution in listed["executions"]:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        output = json.loads(described.get("output") or "{}")
        started = described["startDate"]
        end = described.get("stopDate") or datetime.now(started.tzinfo)
        accuracy = output.get("gate", {}).get("test_accuracy")
        table.add_row(
            described["name"],
            started.astimezone().strftime("%m-%d %H:%M"),
            described["status"],
            f"{(end - started).total_seconds():.0f} s",
            "" if accuracy is None else f"{accuracy:.4f}",
        )
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
    runs_parser = command("runs", "recent runs with their start, status, duration and test accuracy")
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


COMMANDS = {
    "watch": command_watch,
    "runs": command_runs,
    "predict": command_predict,
    "plots": command_plots,
    "monitor": command_monitor,
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
