"""The archives SageMaker runs the package model_code from, and the thin entry scripts at their top.

- sourcedir.tar.gz (training jobs and tuning trials): ``hpo.py``, ``train_model.py`` and ``requirements.txt`` at
  the top, the package in ``model_code/``; the training toolkit installs the requirements and runs
  ``python hpo.py`` there.
- model.tar.gz's ``code/`` (the endpoint): ``inference.py`` at the top, the modules it needs in ``model_code/``;
  the inference toolkit imports ``inference`` from there.

Each entry script only imports the package shipped beside it, so every module has the same import identity in
a job, in an endpoint, in the Lambda layer and in the installed project. Standard library only: the Lambdas
build the sourcedir with it.
"""

import shutil
from pathlib import Path

PACKAGE = "model_code"
PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS = "requirements.txt"  # at the sourcedir's top, where the training toolkit installs it from


def _script(module: str, body: str) -> str:
    return f'"""SageMaker runs this file; the code is {PACKAGE}/{module}.py, in the package beside it."""\n\n{body}'


# sagemaker_program names one of these; each runs its module's main()
TRAINING_SCRIPTS = {
    f"{module}.py": _script(module, f'from {PACKAGE}.{module} import main\n\nif __name__ == "__main__":\n    main()\n')
    for module in ("hpo", "train_model")
}
INFERENCE_SCRIPT = "inference.py"  # the inference toolkit's default SAGEMAKER_PROGRAM
INFERENCE_SCRIPT_TEXT = _script(
    "inference", f"from {PACKAGE}.inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n"
)
# What the endpoint's code/ carries of the package: inference.py and what it imports.
INFERENCE_MODULES = ("__init__.py", "dataset_contract.py", "dogbreeds.py", "inference.py", "serving_limits.py")


def sourcedir_files(package_dir: Path = PACKAGE_DIR) -> dict[str, bytes]:
    """sourcedir.tar.gz's members, name -> content: the package's modules, its requirements, the entry scripts."""
    package_dir = Path(package_dir)
    modules = sorted(path for path in package_dir.glob("*.py") if path.is_file())
    missing = set(TRAINING_SCRIPTS) - {path.name for path in modules}
    if missing:
        raise FileNotFoundError(f"no model code ({', '.join(sorted(missing))}) in {package_dir}")
    files = {f"{PACKAGE}/{path.name}": path.read_bytes() for path in modules}
    files |= {name: text.encode() for name, text in TRAINING_SCRIPTS.items()}
    requirements = package_dir / REQUIREMENTS
    if requirements.is_file():
        files[REQUIREMENTS] = requirements.read_bytes()
    return dict(sorted(files.items()))


def write_inference_code(model_dir: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """model_dir/code/: the inference toolkit's inference.py over the package modules it needs."""
    code_dir = Path(model_dir) / "code"
    (code_dir / PACKAGE).mkdir(parents=True, exist_ok=True)
    (code_dir / INFERENCE_SCRIPT).write_text(INFERENCE_SCRIPT_TEXT)
    for name in INFERENCE_MODULES:
        shutil.copy2(Path(package_dir) / name, code_dir / PACKAGE / name)
    return code_dir
