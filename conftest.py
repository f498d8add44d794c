"""Import paths shared by every test: the same ones SageMaker and Lambda give the code.

- model_code/ is SageMaker's source_dir: its scripts import their siblings as top-level modules.
- functions/ is each Lambda's CodeUri: handlers live at <step>/app.py and share ``common``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for path in (ROOT / "functions", ROOT / "model_code", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
