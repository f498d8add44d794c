"""Where the repository and the project's virtualenv are."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the project's virtualenv (`make test` runs the suite with its Python)
