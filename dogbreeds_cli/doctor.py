"""`dogbreeds doctor`: can this account run this stack? Checked before deploying, and before any money is spent.

- SageMaker's quotas, read through Service Quotas against what one run of the configuration needs: the same
  check the pipeline's CheckQuotas step makes (model_code/quotas.py). A quota too low fails the doctor, with the
  console page and the AWS CLI command that ask for more; a quota Service Quotas does not list is a warning.
- The region: the template's Rules (SupportedRegion: the images the pipeline needs exist there), evaluated as
  CloudFormation would evaluate them at `sam deploy`.
- The Debugger choice: DebuggerService=true needs an account that had SageMaker Debugger before it closed to new
  customers on 2026-07-30, which no API tells: a warning.

The configuration comes from the checkout (template.yaml with a samconfig.toml profile, as `sam deploy
--config-env` reads them), from a deployed stack (its parameters), or from a running twin (its profile).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from model_code import quotas

OK, TOO_LOW, UNREAD, WARNING, REFUSED = "ok", "TOO LOW", "unread", "warning", "REFUSED"
FAILING = (TOO_LOW, REFUSED)
DEBUGGER_CLOSED = "2026-07-30"


@dataclass(frozen=True)
class Finding:
    check: str
    needed: str
    account: str
    verdict: str  # one of OK, TOO_LOW, UNREAD, WARNING, REFUSED
    advice: str = ""


@dataclass(frozen=True)
class Report:
    region: str
    source: str  # where the configuration came from
    findings: list[Finding]

    @property
    def failed(self) -> bool:
        return any(finding.verdict in FAILING for finding in self.findings)


def quota_findings(readings: list[quotas.Reading], region: str) -> list[Finding]:
    found = []
    for reading in readings:
        need = reading.need
        name = f"{need.quota.name} ({reading.code})" if reading.code else need.quota.name
        if not reading.readable:
            advice = (
                f"'{need.quota.name}' could not be read: Service Quotas does not list it for this account and region. "
                f"SageMaker enforces it all the same; this stack needs {need.value} ({need.why})."
            )
            found.append(Finding(name, str(need.value), "could not be read", UNREAD, advice))
            continue
        account = f"{reading.value:g}" + ("" if reading.applied else " (default)")
        advice = "" if reading.enough else quotas.shortfall(reading, region)
        found.append(Finding(name, str(need.value), account, OK if reading.enough else TOO_LOW, advice))
    return found


def region_findings(region: str, failed_rules: list[str] | None) -> list[Finding]:
    """The template's Rules for this region and configuration (None: not evaluated, e.g. a deployed stack)."""
    if failed_rules is None:
        return []
    if not failed_rules:
        return [Finding("the template's Rules (region, parameters)", "all pass", region, OK)]
    return [Finding("the template's Rules (region, parameters)", "all pass", region, REFUSED, rule)
            for rule in failed_rules]  # fmt: skip


def debugger_finding(parameters: Mapping[str, str]) -> Finding:
    if parameters.get("DebuggerService") == "true":
        return Finding(
            "DebuggerService=true", f"Debugger before {DEBUGGER_CLOSED}", "unknown", WARNING,
            f"DebuggerService=true needs an account that had SageMaker Debugger before it closed to new customers on "
            f"{DEBUGGER_CLOSED}; on an account opened since, deploy with DebuggerService=false (the training job "
            "evaluates its loss rules itself either way).",
        )  # fmt: skip
    return Finding("DebuggerService=false (the job judges its own loss rules)", "-", "-", OK)


def examine(
    parameters: Mapping[str, str], service_quotas, region: str, source: str, failed_rules: list[str] | None = None
) -> Report:
    """Every check for one configuration (template parameter names and values) against one account and region;
    ``service_quotas`` is a boto3 Service Quotas client of that account and region."""
    readings = quotas.read(service_quotas, quotas.needs(quotas.StackConfig.from_parameters(parameters)))
    findings = [*region_findings(region, failed_rules), *quota_findings(readings, region), debugger_finding(parameters)]
    return Report(region, source, findings)


STYLES = {OK: "green", TOO_LOW: "bold red", REFUSED: "bold red", UNREAD: "yellow", WARNING: "yellow"}


def render(report: Report, console: Console) -> int:
    """The table (check, needed, account, verdict), then what to do about each problem; 1 when the run would fail."""
    title = Text(f"Can this account run the stack? {report.region}, {report.source}")  # Text: no markup in names
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("check", ratio=1)  # SageMaker's quota names are long: they wrap, the numbers never do
    table.add_column("needed", justify="right", no_wrap=True)
    table.add_column("account", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for finding in report.findings:
        table.add_row(finding.check, finding.needed, finding.account, Text(finding.verdict, STYLES[finding.verdict]))
    console.print(table)
    for finding in report.findings:
        if finding.advice and finding.verdict != OK:
            console.print(Text(f"{finding.verdict}: {finding.advice}", STYLES[finding.verdict]), soft_wrap=True)
    if report.failed:
        console.print(Text("A run would fail: fix the lines above before you upload a dataset.", "bold red"))
        return 1
    console.print(Text("Nothing stops a run here.", "green"))
    return 0


# --------------------------------------------------------------------------------------------- configurations


def checkout_configuration(
    checkout: Path, profile: str, region: str, overrides: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """template.yaml's parameters with a samconfig.toml profile's overrides (as `sam deploy --config-env` reads
    them), and the template's Rules that fail in ``region``."""
    # CloudFormation's own reading of the parameters and Rules (PyYAML only; SAM's transform changes neither)
    from local_twin import cloudformation, samconfig

    settings = samconfig.load_profile(checkout / "samconfig.toml", profile)
    document = cloudformation.load_yaml(checkout / "template.yaml")
    parameters = settings.parameter_overrides | dict(overrides or {})
    stack = cloudformation.Stack(document, parameters, settings.stack_name, region)
    return dict(stack.parameters), stack.failed_rules()


def stack_parameters(cloudformation, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in described.get("Parameters", [])}
