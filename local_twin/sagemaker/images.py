"""The SageMaker images' stacks on this machine: what the local SageMaker's jobs and endpoints run on.

The template pins SageMaker's PyTorch training and inference images (scripts/image_uris.py). The twin cannot run
them (no container runtime here), so it runs each job and endpoint in a virtualenv that reproduces the image's
Python and libraries: ``requirements/training-image.txt`` and ``requirements/inference-image.txt``, each naming the
image and the Dockerfile it was read from, built by ``make images`` into ``.venv-training-image`` and
``.venv-inference-image``. The project's own environment (.venv: the twin, the tests, the CLI) may be newer; code
that runs inside a job or an endpoint runs on the image's versions.

A requirements file states the image's Python on a line ``# image python: 3.12``. Where this machine lacks that
Python the Makefile builds the stack with the nearest one it has, and the twin says so once.
"""

import logging
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
IMAGE_PYTHON_LINE = re.compile(r"^# image python: (\d+\.\d+)$", re.MULTILINE)

logger = logging.getLogger(__name__)


class ImageStackMissing(RuntimeError):
    """The virtualenv that stands in for an image has not been built."""


@dataclass(frozen=True)
class ImageStack:
    """One image's stand-in: ``kind`` is ``training`` or ``inference``."""

    kind: str
    venv: Path

    @property
    def requirements(self) -> Path:
        return REQUIREMENTS / f"{self.kind}-image.txt"

    @property
    def image_python(self) -> str:
        """The image's Python (major.minor), as its requirements file states it."""
        return IMAGE_PYTHON_LINE.search(self.requirements.read_text()).group(1)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def wheelhouse(self) -> Path:
        """The wheels of what code installs at run time (pip's --find-links): a job here reaches no package index."""
        return self.venv / "wheelhouse"

    @property
    def python(self) -> str:
        """The stack's Python, checked: built, and the image's version (or said once why not)."""
        python = self.bin / "python"
        if not (self.venv / ".installed").exists() or not python.exists():
            raise ImageStackMissing(
                f"the {self.kind} image's environment ({self.venv}) is not built: run `make images` "
                f"(it installs {self.requirements.relative_to(ROOT)})"
            )
        _say_once_if_not_the_images_python(str(python), self.image_python, self.kind)
        return str(python)


@dataclass(frozen=True)
class ImageStacks:
    training: ImageStack
    inference: ImageStack

    @classmethod
    def built_in(cls, root: Path = ROOT) -> "ImageStacks":
        """The stacks `make images` builds in the project's folder."""
        return cls(
            ImageStack("training", root / ".venv-training-image"),
            ImageStack("inference", root / ".venv-inference-image"),
        )


@cache
def _say_once_if_not_the_images_python(python: str, wanted: str, kind: str) -> None:
    version = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if version != wanted:
        logger.warning(
            "the %s image runs Python %s; this machine has none, so its stand-in runs on Python %s (the nearest)",
            kind, wanted, version,
        )  # fmt: skip
