"""What every test process starts with: the import paths Lambda gives the code, and torch told not to spin.

functions/ is each Lambda's CodeUri (Lambda's task root): handlers live at <step>/app.py and share ``common``.
The package model_code (the Lambdas' layer), the twin and the CLI come from the installed project, as they do
for a user; nothing else is put on sys.path.

The suite's two workers train in-process and start twins whose jobs train too, all on this machine's cores: the
OpenMP setting the twin gives its jobs (local_twin/sagemaker/runtime.py) holds for the workers as well, set here
before any of them imports torch (the xdist workers inherit it).
"""

import os
import sys
from pathlib import Path

from local_twin.sagemaker.runtime import SHARED_CORES

FUNCTIONS = Path(__file__).resolve().parent / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

for key, value in SHARED_CORES.items():
    os.environ.setdefault(key, value)
