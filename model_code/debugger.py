"""SageMaker Debugger (smdebug) for train_model.py: the hook that records losses, and the loss plot.

smdebug is optional at run time: when it is missing or the hook cannot be made, training goes on and
says so once (smdebug_compat.py installs and patches it).
"""

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from model_code.metrics import TRAIN_LOSS, VALID_LOSS
from model_code.rule_settings import (
    ERROR,
    LOSS_SAVE_INTERVAL,
    LOSSES_COLLECTION,
    RULE_NAMES,
    format_verdict_line,
)
from model_code.smdebug_compat import import_smdebug_pytorch, open_trial

SAGEMAKER_HOOK_CONFIG = "/opt/ml/input/config/debughookconfig.json"
SAGEMAKER_TENSORS = "/opt/ml/output/tensors"  # DebugHookConfig's LocalPath when the request names none
EPOCH_LOSS = "EpochLoss"  # smdebug saves it as EpochLoss_output_0, in the losses collection


class LossRecorder:
    """Wraps an smdebug hook: records ONE loss per pass over a split, the pass's per-sample mean.

    The rules judge training, not batch noise: a per-batch loss swings with each batch's content (the
    validation loader is unshuffled and class-sorted), so LossNotDecreasing and Overtraining, which compare
    single saved values, would flag healthy runs. The hook's step is therefore one pass, not one batch: it
    watches a marker module called once at the end of each pass, then saves the pass's mean as ``EpochLoss``
    in the ``losses`` collection. TRAIN step n is the training of epoch n + 1, EVAL step n the validation
    after it, so the rules' step parameters count epochs; the final test pass runs in PREDICT mode.

    In a distributed run each rank sums the losses of its share and ``reduce`` (a collective every rank joins at
    each phase) makes the pass's mean the whole split's, as the metric lines are; only rank 0 has the hook and
    saves: the others' recorders (``hook`` None, ``for_other_rank``) only take part in the reductions.
    """

    def __init__(self, hook, modes, reduce: Callable[[list[float]], list[float]] | None = None):
        import torch

        self.hook = hook
        self.modes = {"train": modes.TRAIN, "eval": modes.EVAL, "test": modes.PREDICT} if modes else {}
        self.out_dir = hook.out_dir if hook else None
        self.reduce = reduce
        self._pass_marker = torch.nn.Identity()
        self._loss_sum = 0.0
        self._samples = 0

    @classmethod
    def for_other_rank(cls, criterion, reduce: Callable[[list[float]], list[float]]) -> "LossRecorder":
        """A rank other than 0's share of the recording: it sums its losses and joins rank 0's reductions."""
        recorder = cls(None, None, reduce)
        criterion.register_forward_hook(recorder._add_batch)
        return recorder

    def register(self, model, criterion) -> None:
        """``model`` is not hooked (the losses are all that is recorded): only ``criterion``'s outputs are summed."""
        self.hook.register_module(self._pass_marker)
        criterion.register_forward_hook(self._add_batch)

    def _add_batch(self, criterion, inputs, loss) -> None:
        batch = len(inputs[1])  # (outputs, targets)
        self._loss_sum += float(loss.detach()) * batch
        self._samples += batch

    def _record_pass(self) -> None:
        loss_sum, samples = self._loss_sum, self._samples
        self._loss_sum, self._samples = 0.0, 0
        if self.reduce:
            loss_sum, samples = self.reduce([loss_sum, samples])
        if samples and self.hook:
            import torch

            self._pass_marker(torch.zeros(1))  # the hook's next step: this pass
            self.hook.record_tensor_value(EPOCH_LOSS, torch.tensor(loss_sum / samples))

    def set_phase(self, phase: str) -> None:
        """``train``, ``eval`` (validation) or ``test``: closes the pass before it."""
        self._record_pass()
        if self.hook:
            self.hook.set_mode(self.modes[phase])

    def replay(self, history: list[dict]) -> None:
        """Record the mean losses of the epochs a resumed job trained before its interruption (the checkpoint's
        history holds them, as the metric lines printed them), so the trial, and the rules judging it, cover every
        epoch of the job, not only those after the resume."""
        reduce, self.reduce = self.reduce, None  # rank 0's alone: the history holds the whole split's means
        try:
            for entry in history:
                for phase, loss in (("train", entry[TRAIN_LOSS]), ("eval", entry[VALID_LOSS])):
                    self.set_phase(phase)
                    self._loss_sum, self._samples = float(loss), 1  # recorded when the next phase begins
            self._record_pass()
        finally:
            self.reduce = reduce

    def close(self) -> None:
        self._record_pass()
        if self.hook:
            self.hook.close()


def default_out_dir(output_data_dir: str) -> str:
    """Without the Debugger service the trial goes with the job's output data (output.tar.gz): the job's record."""
    return str(Path(output_data_dir) / "debug-output")


def start_trial_afresh(folder: Path) -> None:
    """smdebug refuses a non-empty out_dir (with a misleading AttributeError). One that holds a trial is a previous
    attempt's of this job (interrupted on spot, say): its losses are replayed from the checkpoint's history
    (LossRecorder.replay), so it is superseded; a folder holding anything else is not ours to empty."""
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not any((folder / part).is_dir() for part in ("collections", "events", "index")):
        raise ValueError(f"debugger output folder {folder} is not empty and holds no smdebug trial")
    shutil.rmtree(folder)


def create_loss_recorder(
    local_out_dir: str, model, criterion, reduce: Callable[[list[float]], list[float]] | None = None
) -> LossRecorder | None:
    """A hook recording ``criterion``'s losses on ``model``: from the Debugger service's hook configuration
    when the job has one, else writing to ``local_out_dir``.

    Returns None (after one warning) when smdebug is missing or no hook can be made.
    """
    try:
        smd = import_smdebug_pytorch()
        config = os.environ.get("SMDEBUG_CONFIG_FILE_PATH", SAGEMAKER_HOOK_CONFIG)
        if Path(config).is_file():
            start_trial_afresh(json.loads(Path(config).read_text()).get("LocalPath", SAGEMAKER_TENSORS))
            hook = smd.Hook.create_from_json_file(config)
        else:
            start_trial_afresh(local_out_dir)
            hook = smd.Hook(
                out_dir=local_out_dir,
                save_config=smd.SaveConfig(save_interval=LOSS_SAVE_INTERVAL),
                include_collections=[LOSSES_COLLECTION],
            )
        recorder = LossRecorder(hook, smd.modes, reduce)
        recorder.register(model, criterion)  # can fail, e.g. on frozen parameters: training goes on
        return recorder
    except Exception as error:  # training must go on without the debugger
        warnings.warn(f"SageMaker Debugger hook unavailable, training continues without it: {error}", stacklevel=2)
        return None


def read_losses(out_dir: str) -> dict[str, tuple[list[int], list[float]]]:
    """``{"TRAIN": (steps, losses), "EVAL": (...)}`` read back through smdebug's trial API."""
    from smdebug import modes

    trial = open_trial(out_dir)
    if trial is None:
        return {}
    names = trial.tensor_names(collection="losses")
    if not names:
        return {}
    tensor = trial.tensor(names[0])
    curves = {}
    for mode in (modes.TRAIN, modes.EVAL):
        steps = tensor.steps(mode=mode)  # one per pass: step n is epoch n + 1 in either mode
        if steps:
            curves[mode.name] = (steps, [float(tensor.value(step, mode=mode)) for step in steps])
    return curves


def loss_figure(curves: dict[str, tuple[list[int], list[float]]]):
    """The mean training and validation loss of each epoch on one shared epoch axis (a step per pass)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for mode, (_, losses) in curves.items():
        axes.plot(range(1, len(losses) + 1), losses, "o-", label=mode.lower(), linewidth=1)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.5
    axes.set_ylabel("cross-entropy loss (log scale)")
    axes.set_yscale("log")
    axes.set_title("Mean training and validation loss per epoch, recorded by smdebug")
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


def judge_losses(recorder: LossRecorder | None, output_data_dir: Path, rules: dict[str, dict]) -> None:
    """Evaluate the loss rules (``rules``: rule_settings.rule_parameters of the job's epochs) on the closed trial
    (loss_rules.py) and report their verdicts: one metric line each and a JSON file. Without a trial every rule
    is an ``Error``, which the quality gate refuses."""
    try:
        if recorder is None:
            raise RuntimeError("the losses were not recorded (no smdebug hook)")
        from model_code import loss_rules  # smdebug's rule API: imported only once there is a trial

        loss_rules.report(loss_rules.evaluate_rules(recorder.out_dir, rules), output_data_dir)
    except Exception as error:  # the model is exported already: the verdicts say what went wrong
        for rule in RULE_NAMES:
            print(format_verdict_line(rule, ERROR, f"{type(error).__name__}: {error}"), flush=True)
