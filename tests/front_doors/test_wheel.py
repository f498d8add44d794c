"""`pip install <repo>` into a fresh virtualenv: `dogbreeds` works with only the CLI's declared dependencies
(the twin's runs, watch, predict and plots through it are in tests/twin/deployed/test_cli_on_twin.py)."""

import pytest

from tests.support.front_doors import CLI_DEPENDENCIES_ONLY
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow  # builds the wheel and installs its dependencies from the package index


def test_the_installed_command_starts_from_another_folder(installed_cli, elsewhere):
    result = elsewhere(installed_cli / "dogbreeds", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dogbreeds")
    for subcommand in ("watch", "runs", "predict", "plots", "monitor", "doctor"):
        started = elsewhere(installed_cli / "dogbreeds", subcommand, "--help")
        assert started.returncode == 0, f"{subcommand}: {started.stderr}"


def test_the_install_is_a_wheel_without_the_training_stack(installed_cli, elsewhere):
    probe = (
        "import importlib.util, json, dogbreeds_cli, model_code; "
        f"print(json.dumps([[m for m in {list(CLI_DEPENDENCIES_ONLY)!r} if importlib.util.find_spec(m)], "
        "dogbreeds_cli.__file__, model_code.__file__]))"
    )
    result = elsewhere(installed_cli / "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    import json

    present, cli_file, model_code_file = json.loads(result.stdout)
    assert present == []
    assert "site-packages" in cli_file and "site-packages" in model_code_file  # copied in: not an editable link


def test_the_command_loads_no_training_code(installed_cli, elsewhere):
    """Every module the CLI imports, with all its commands' code loaded: none is torch's or the model's."""
    probe = (
        "import sys, dogbreeds_cli.cli, dogbreeds_cli.doctor, dogbreeds_cli.plots, dogbreeds_cli.watch; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('model_code'))))"
    )
    result = elsewhere(installed_cli / "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) <= {
        "model_code",
        "model_code.metrics",
        "model_code.rule_settings",
        "model_code.quotas",
        "model_code.monitoring",  # standard library only (dogbreeds monitor)
        "model_code.registry",  # standard library only (dogbreeds models|approve|reject|rollback)
        "model_code.live_version",
    }


def test_the_installed_doctor_reads_a_checkouts_configuration(installed_cli, elsewhere):
    """template.yaml and samconfig.toml read from the wheel's install (PyYAML declared): only the account is missing
    here (no credentials in the clean environment)."""
    result = elsewhere(installed_cli / "dogbreeds", "doctor", "--checkout", ROOT, "--config-env", "smoke", "--region",
                       "us-east-1")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot read the account's quotas through Service Quotas" in " ".join(result.stdout.split())
