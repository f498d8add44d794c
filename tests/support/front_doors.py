"""The front doors as a user meets them: commands run outside the repository, in a clean environment."""

import subprocess
from pathlib import Path

from tests.support.paths import ROOT

CLI_DEPENDENCIES_ONLY = ("torch", "smdebug", "moto", "sagemaker_training")  # none of these on a user's laptop


def clean_environment(home: Path) -> dict[str, str]:
    """What a fresh login shell has, and nothing of this process: no PYTHONPATH, no AWS settings."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def run_elsewhere(folder: Path, *command, timeout: float = 120, env: dict | None = None):
    """The command in ``folder`` (outside the repository) with a clean environment (plus ``env``)."""
    assert ROOT not in folder.resolve().parents and folder.resolve() != ROOT
    return subprocess.run(
        [str(part) for part in command],
        cwd=folder,
        env={**clean_environment(folder), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
