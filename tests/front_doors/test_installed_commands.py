"""The commands of the project's virtualenv (what `make demo` and `make test` install), run from another folder."""

import pytest

from tests.support.paths import ROOT, VENV_BIN

SUBCOMMANDS = ("watch", "runs", "predict", "plots", "monitor", "doctor")
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def test_dogbreeds_help_names_every_subcommand(elsewhere):
    result = elsewhere(VENV_BIN / "dogbreeds", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dogbreeds")
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_each_dogbreeds_subcommand_starts(elsewhere, subcommand):
    result = elsewhere(VENV_BIN / "dogbreeds", subcommand, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: dogbreeds {subcommand}")


def test_dogbreeds_without_a_twin_says_how_to_start_one(elsewhere):
    result = elsewhere(VENV_BIN / "dogbreeds", "runs")  # the default connection file: ./.twin/up.json, absent here
    assert result.returncode == 2, result.stdout + result.stderr
    assert ".twin/up.json does not exist: start the twin with `make up`" in " ".join(result.stdout.split())


def test_python_m_local_twin_starts(elsewhere):
    result = elsewhere(VENV_BIN / "python", "-m", "local_twin", "--help")
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout and "up" in result.stdout


def test_python_m_benchmarks_lists_the_benchmarks(elsewhere):
    from benchmarks.__main__ import BENCHMARKS

    result = elsewhere(VENV_BIN / "python", "-m", "benchmarks", "--help")
    assert result.returncode == 0, result.stderr
    for name in BENCHMARKS:
        assert name in result.stdout
    for name in BENCHMARKS:  # each benchmark has its own options
        single = elsewhere(VENV_BIN / "python", "-m", f"benchmarks.{name}", "--help")
        assert single.returncode == 0 and single.stdout.startswith("usage:"), f"{name}: {single.stderr}"


def test_python_m_benchmarks_refuses_an_unknown_name(elsewhere):
    result = elsewhere(VENV_BIN / "python", "-m", "benchmarks", "no_such_benchmark")
    assert result.returncode == 2
    assert "no benchmark named no_such_benchmark" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_script_starts_from_another_folder(elsewhere, script):
    result = elsewhere(VENV_BIN / "python", script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_model_code_is_imported_without_any_path_set_up(elsewhere):
    """One import identity: the package model_code from the installed project, whatever the working folder."""
    probe = (
        "import model_code, model_code.metrics, model_code.rule_settings as r; print(model_code.__file__, r.LOSS_PLOT)"
    )
    result = elsewhere(VENV_BIN / "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(ROOT / "model_code" / "__init__.py"), "loss_curves.png"]
