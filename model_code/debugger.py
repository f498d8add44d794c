"""SageMaker Debugger (smdebug) for train_model.py: the hook that records losses, and the loss plot.

smdebug is optional at run time: when it is missing or the hook cannot be made, training goes on and
says so once. It needs two fixes on today's stacks, applied here:
- protobuf >= 4 refuses its generated modules unless the pure-Python protobuf implementation is used;
- numpy 2 removed ``ndarray.tostring()``, which smdebug's writer calls: without a fix every save fails,
  smdebug disables itself *silently* and the trial is empty.
"""

import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

SMDEBUG_REQUIREMENT = "smdebug==1.0.34"
SAGEMAKER_HOOK_CONFIG = "/opt/ml/input/config/debughookconfig.json"
LOSS_PLOT = "loss_curves.png"


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


def _import_smdebug():
    """smdebug.pytorch; inside a SageMaker job, installed first (without its pins) if missing."""
    try:
        return importlib.import_module("smdebug.pytorch")
    except ImportError:
        if "SM_TRAINING_ENV" not in os.environ:
            raise
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", SMDEBUG_REQUIREMENT], check=True)
    return importlib.import_module("smdebug.pytorch")


class LossRecorder:
    """Wraps an smdebug hook: registers the model and loss, switches TRAIN/EVAL modes."""

    def __init__(self, hook, modes):
        self.hook = hook
        self.modes = modes
        self.out_dir = hook.out_dir

    def register(self, model, criterion) -> None:
        self.hook.register_module(model)
        self.hook.register_loss(criterion)

    def set_phase(self, phase: str) -> None:
        self.hook.set_mode(self.modes.TRAIN if phase == "train" else self.modes.EVAL)

    def close(self) -> None:
        self.hook.close()


def create_loss_recorder(local_out_dir: str | None, model, criterion) -> LossRecorder | None:
    """A hook recording ``criterion``'s losses on ``model``: from SageMaker's Debugger hook configuration
    when present, else writing to ``local_out_dir``.

    Returns None (after one warning) when smdebug is missing or no hook can be made.
    """
    try:
        smd = _import_smdebug()
        _patch_numpy2_tensor_proto()
        config = os.environ.get("SMDEBUG_CONFIG_FILE_PATH", SAGEMAKER_HOOK_CONFIG)
        if Path(config).is_file():
            hook = smd.Hook.create_from_json_file(config)
        elif local_out_dir:
            if Path(local_out_dir).exists() and any(Path(local_out_dir).iterdir()):
                # smdebug refuses a non-empty out_dir with a misleading AttributeError.
                raise ValueError(f"debugger output folder {local_out_dir} is not empty")
            hook = smd.Hook(
                out_dir=local_out_dir,
                save_config=smd.SaveConfig(save_interval=1),
                include_collections=["losses"],
            )
        else:
            warnings.warn("no Debugger hook configuration, no --debug-out-dir: losses not recorded", stacklevel=2)
            return None
        recorder = LossRecorder(hook, smd.modes)
        recorder.register(model, criterion)  # can fail, e.g. on frozen parameters: training goes on
        return recorder
    except Exception as error:  # training must go on without the debugger
        warnings.warn(f"SageMaker Debugger hook unavailable, training continues without it: {error}", stacklevel=2)
        return None


def read_losses(out_dir: str) -> dict[str, tuple[list[int], list[float]]]:
    """``{"TRAIN": (global steps, losses), "EVAL": (...)}`` read back through smdebug's trial API.

    Each mode counts its own steps; the global step is when the loss was recorded in the whole run, so the
    evaluation losses of an epoch sit right after that epoch's training losses on one shared axis.
    """
    from smdebug import modes
    from smdebug.trials import create_trial

    if not any(Path(out_dir).glob("collections/*/*.json")):
        return {}  # create_trial would wait forever for collection files that will never come
    trial = create_trial(out_dir)
    names = trial.tensor_names(collection="losses")
    if not names:
        return {}
    tensor = trial.tensor(names[0])
    curves = {}
    for mode in (modes.TRAIN, modes.EVAL):
        steps = tensor.steps(mode=mode)
        if steps:
            values = [float(tensor.value(step, mode=mode)) for step in steps]
            curves[mode.name] = ([trial.global_step(mode, step) for step in steps], values)
    return curves


def loss_figure(curves: dict[str, tuple[list[int], list[float]]]):
    """Train and eval losses against the global step at which each was recorded (one shared axis)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for mode, (steps, losses) in curves.items():
        xs, ys = [], []
        for index, (step, loss) in enumerate(zip(steps, losses, strict=True)):
            if index and step != steps[index - 1] + 1:  # the other mode ran in between: no line across the gap
                xs.append(float("nan"))
                ys.append(float("nan"))
            xs.append(step)
            ys.append(loss)
        axes.plot(xs, ys, label=mode.lower(), linewidth=1, marker="." if mode == "EVAL" else None)
    axes.set_xlabel("global step (batches of training and evaluation, in the order run)")
    # symlog: a loss can round to 0 on an easy batch, which a log axis cannot show
    axes.set_ylabel("cross-entropy loss (symmetric log scale)")
    axes.set_yscale("symlog", linthresh=0.01)
    axes.set_title("Training and evaluation loss recorded by SageMaker Debugger")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def plot_losses(curves: dict[str, tuple[list[int], list[float]]], path: Path) -> Path:
    from matplotlib import pyplot as plt

    figure = loss_figure(curves)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
