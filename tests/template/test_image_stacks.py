"""The images' stand-ins (requirements/*-image.txt, local_twin/sagemaker/images.py) are the images the template pins."""

import ast
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local_twin.sagemaker import images
from local_twin.sagemaker.images import ImageStack, ImageStackMissing, ImageStacks
from model_code import smdebug_compat
from scripts import image_uris

STACKS = ImageStacks.built_in()


def pins(stack: ImageStack) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in stack.requirements.read_text().splitlines()]
    return dict(re.fullmatch(r"([\w.-]+)==(\S+)", line).groups() for line in lines if "==" in line)


@pytest.mark.parametrize("stack", [STACKS.training, STACKS.inference], ids=lambda stack: stack.kind)
def test_each_stand_in_pins_the_template_images_python_and_torch(stack):
    python = image_uris.PY_VERSION.removeprefix("py")  # py312
    assert stack.image_python.replace(".", "") == python
    assert pins(stack)["torch"].startswith(f"{image_uris.FRAMEWORK_VERSION}.")
    repository = "pytorch-training" if stack.kind == "training" else "pytorch-inference"
    assert f"{repository}:{image_uris.FRAMEWORK_VERSION}-cpu-{image_uris.PY_VERSION}" in stack.requirements.read_text()


def test_the_training_stand_in_keeps_the_images_numpy_below_2():
    assert pins(STACKS.training)["numpy"].startswith("1.")  # the image pins "numpy<2"; smdebug needs it


def test_a_stand_in_not_built_is_refused_with_what_to_run(tmp_path):
    with pytest.raises(ImageStackMissing, match=r"the training image's environment .* is not built: run `make images`"):
        _ = ImageStack("training", tmp_path / "absent").python


def test_a_stand_in_on_another_python_is_said_once(tmp_path, caplog, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / ".installed").touch()
    monkeypatch.setattr(ImageStack, "image_python", "3.99")
    images._say_once_if_not_the_images_python.cache_clear()
    stack = ImageStack("training", venv)
    with caplog.at_level(logging.WARNING, logger=images.__name__):
        assert stack.python == str(venv / "bin" / "python")
        assert stack.python == str(venv / "bin" / "python")
    said = [record.getMessage() for record in caplog.records]
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert said == [
        f"the training image runs Python 3.99; this machine has none, so its stand-in runs on Python {running} "
        "(the nearest)"
    ]


MODEL_CODE = images.ROOT / "model_code"


def third_party_imports(path: Path) -> set[str]:
    """The top-level modules ``path`` imports, wherever (a function's lazy import too), but the standard library's
    and model_code's own."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"model_code"}


def model_code_imports(path: Path) -> set[Path]:
    """The model_code modules ``path`` imports (``from model_code import x``, ``from model_code.x import ...``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "model_code":
            parts = node.module.split(".")[1:]
            found |= {MODEL_CODE / f"{parts[0]}.py"} if parts else {MODEL_CODE / f"{a.name}.py" for a in node.names}
    return {module for module in found if module.exists()}


def served_modules() -> set[Path]:
    """What the endpoint runs: inference.py and the model_code modules it reaches."""
    reached, todo = set(), [MODEL_CODE / "inference.py"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(model_code_imports(module))
    return reached


def missing_in(stack: ImageStack, modules: set[str]) -> list[str]:
    finder = "import importlib.util, sys; print(*[n for n in sys.argv[1:] if importlib.util.find_spec(n) is None])"
    found = subprocess.run([stack.python, "-c", finder, *sorted(modules)], capture_output=True, text=True, check=True)
    return found.stdout.split()


def test_what_the_model_code_imports_is_in_the_images_stand_ins():
    """Every library the training code imports is in the training image's stand-in (a plot drawn with matplotlib,
    which the image has through seaborn, needs it there too), and every library the served code imports is in the
    inference image's: code that reaches for a library the image lacks fails here, before a job or endpoint does."""
    training = set().union(*(third_party_imports(path) for path in MODEL_CODE.glob("*.py")))
    served = set().union(*(third_party_imports(path) for path in served_modules()))
    assert {"torch", "torchvision", "matplotlib", "smdebug"} <= training
    assert {"torch", "sagemaker_inference"} <= served
    # inference.py's is in its image; smdebug is in neither (the final job installs it, smdebug_compat.py), as in
    # SageMaker's: the toolkit would import it, and torch with it, at the start of every job
    assert missing_in(STACKS.training, training - {"sagemaker_inference"}) == ["smdebug"]
    name, version = smdebug_compat.SMDEBUG_REQUIREMENT.split("==")
    assert [wheel.name.split("-")[:2] for wheel in STACKS.training.wheelhouse.glob("*.whl")] == [[name, version]]
    assert missing_in(STACKS.inference, served) == []
