"""smdebug (SageMaker Debugger's client) on today's stacks: imported, installed in a job that lacks it, patched.

smdebug 1.0.34 is the last release. It needs two fixes, applied here for the hook (debugger.py) and the rules
(loss_rules.py) alike:
- protobuf >= 4 refuses its generated modules unless the pure-Python protobuf implementation is used (set
  before any smdebug module is imported: importing this module does it);
- numpy 2 removed ``ndarray.tostring()``, which smdebug's writer calls: without a fix every save fails,
  smdebug disables itself *silently* and the trial is empty.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

SMDEBUG_REQUIREMENT = "smdebug==1.0.34"


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


def import_smdebug_pytorch():
    """smdebug.pytorch, patched; inside a SageMaker job, installed first (without its pins) if missing."""
    try:
        smd = importlib.import_module("smdebug.pytorch")
    except ImportError:
        if "SM_TRAINING_ENV" not in os.environ:
            raise
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", SMDEBUG_REQUIREMENT]
        subprocess.run(command, check=True)
        smd = importlib.import_module("smdebug.pytorch")
    _patch_numpy2_tensor_proto()
    return smd


def open_trial(out_dir: str):
    """The finished trial under ``out_dir``, or None when the hook saved nothing there."""
    from smdebug.trials import create_trial

    if not any(Path(out_dir).glob("collections/*/*.json")):
        return None  # create_trial would wait forever for collection files that will never come
    return create_trial(out_dir)
