"""Import paths shared by every test: the ones Lambda gives the code.

functions/ is each Lambda's CodeUri (Lambda's task root): handlers live at <step>/app.py and share ``common``.
The package model_code (the Lambdas' layer), the twin and the CLI come from the installed project, as they do
for a user; nothing else is put on sys.path.
"""

import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parent / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
