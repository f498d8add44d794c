"""The images' stand-ins (requirements/*-image.txt, local_twin/sagemaker/images.py) are the images the template pins."""

import logging
import re
import sys

import pytest

from local_twin.sagemaker import images
from local_twin.sagemaker.images import ImageStack, ImageStackMissing, ImageStacks
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
