"""smdebug (SageMaker Debugger's client) on today's stacks: imported, installed in a job that lacks it, patched.

smdebug 1.0.34 is the last release. It needs three fixes, applied here for the hook (debugger.py) and the rules
(loss_rules.py) alike, before any smdebug module is imported (importing this module does it):
- protobuf >= 4 refuses its generated modules unless the pure-Python protobuf implementation is used;
- Python 3.12 (the PyTorch 2.6 images' Python) no longer ships ``distutils``, and smdebug imports
  ``distutils.util.strtobool`` (its only use of it). setuptools' shim provides it where setuptools is installed
  and its path hook runs; where it is not, ``strtobool`` is provided here, with distutils' own semantics;
- numpy 2 removed ``ndarray.tostring()``, which smdebug's writer calls: without a fix every save fails,
  smdebug disables itself *silently* and the trial is empty.
"""

import atexit
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

SMDEBUG_REQUIREMENT = "smdebug==1.0.34"


def strtobool(value: str) -> int:
    """distutils.util.strtobool, as Python 3.11's distutils defines it."""
    value = value.lower()
    if value in ("y", "yes", "t", "true", "on", "1"):
        return 1
    if value in ("n", "no", "f", "false", "off", "0"):
        return 0
    raise ValueError(f"invalid truth value {value!r}")


def _provide_distutils_strtobool() -> None:
    try:
        importlib.import_module("distutils.util")
    except ModuleNotFoundError:
        package, util = types.ModuleType("distutils"), types.ModuleType("distutils.util")
        package.__path__ = []  # a package: `from distutils.util import ...` finds util in sys.modules
        package.util, util.strtobool = util, strtobool
        sys.modules.setdefault("distutils", package)
        sys.modules.setdefault("distutils.util", util)


_provide_distutils_strtobool()


def _patch_numpy2_tensor_proto() -> None:
    """Replace smdebug's make_tensor_proto with one that uses ``tobytes()``."""
    from smdebug.core import writer
    from smdebug.core.tfevent import util
    from smdebug.core.tfevent.proto.tensor_pb2 import TensorProto
    from smdebug.core.tfevent.proto.tensor_shape_pb2 import TensorShapeProto

    def make_tensor_proto(nparray_data, tag):
        is_number, dtype = util._get_proto_dtype(nparray_data.dtype)
        dims = [TensorShapeProto.Dim(size=d, name=f"{tag}_{d}") for d in nparray_data.shape]
        shape = TensorShapeProto(dim=dims)
        if is_number:
            return TensorProto(dtype=dtype, tensor_content=nparray_data.tobytes(), tensor_shape=shape)
        proto = TensorProto(tensor_shape=shape)
        proto.string_val.extend(bytes(s, encoding="utf-8") for s in nparray_data)
        return proto

    util.make_tensor_proto = make_tensor_proto
    writer.make_tensor_proto = make_tensor_proto


def ensure_smdebug() -> None:
    """Inside a SageMaker job whose image lacks smdebug (the PyTorch 2.2+ images do), install it without its pins
    (smdebug pins protobuf<=3.20.3, which would break the image's sagemaker-training); elsewhere, do nothing.

    It goes into a folder of this process's own, not the image's site-packages, so the job leaves the image's
    environment as it found it: the training toolkit imports smdebug (and with it torch, ~3 s of CPU) at the start
    of every job that can import it, only to name its exception classes, where the local twin's jobs share one
    environment."""
    if importlib.util.find_spec("smdebug") is None and "SM_TRAINING_ENV" in os.environ:
        folder = tempfile.mkdtemp(prefix="smdebug-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", folder]
        subprocess.run([*command, SMDEBUG_REQUIREMENT], check=True)
        sys.path.insert(0, folder)
        importlib.invalidate_caches()


def import_smdebug_pytorch():
    """smdebug.pytorch, patched (installed first inside a job that lacks it)."""
    ensure_smdebug()
    smd = importlib.import_module("smdebug.pytorch")
    _patch_numpy2_tensor_proto()
    return smd


def open_trial(out_dir: str):
    """The finished trial under ``out_dir`` (its hook closed), or None when the hook saved nothing there."""
    from smdebug.core.config_constants import TRAINING_END_DELAY_REFRESH_KEY
    from smdebug.trials import create_trial

    if not any(Path(out_dir).glob("collections/*/*.json")):
        return None  # create_trial would wait forever for collection files that will never come
    # A trial still being written may have files in flight when its end-of-training marker appears: smdebug sleeps
    # this many seconds (default 1) before its last read. This one's hook is closed, every file written: nothing
    # to wait for (a second per reading, twice in every final job, in every test that reads a trial).
    os.environ.setdefault(TRAINING_END_DELAY_REFRESH_KEY, "0")
    return create_trial(out_dir)
