"""Keras callbacks of a training run: checkpoints, state and curves after each epoch, the time limit, the
learning-rate schedule, and the moving average of the weights."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from . import _backend  # noqa: F401  (before keras: it chooses the backend)
from .checkpoint import BEST, LAST, save_model
from .io import write_text

import keras  # noqa: E402


def average_weights_callback(resume: bool):
    """Keras' SwapEMAWeights, swapping at each epoch's end too, so that validation, best.keras and last.keras
    hold the optimizer's moving average of the weights while the steps go on from the raw weights.
    last.keras is saved in that swapped state (the average in the model, the raw weights in the optimizer's
    average slots), so a resumed run starts swapped and the callback swaps back before its first step. A run
    that reached its last epoch keeps the average only (Keras hands the average back as the final weights):
    resuming it to more epochs steps on from the average."""
    callback = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
    callback._ema_weights_in_model = resume  # the callback's own flag; it has no public way to say so
    return callback


class RateSchedule(keras.callbacks.Callback):
    """The learning rate over the run's progress: the larger of the fraction of steps done and the
    fraction of the time limit spent, so a run cut by ``--time-limit`` still ends at a low rate.
    ``cosine``: decay to 0; ``constant``: the base rate. ``warmup`` (a fraction of the run) first
    raises the rate linearly from 0 (the usual remedy for a fresh optimizer state's first steps; it
    did not help fine-tuning the bundled nuclei model, benchmarks/README.md section 13, so it is off
    unless asked for). Progress survives ``--resume`` (the epoch number goes on; seconds
    before it are passed in). Steps are counted from Keras' batch index, so with several steps per
    compiled call (``steps_per_execution``) the rate is set once per call, at the right step."""

    def __init__(self, base_lr: float, steps_per_epoch: int, epochs: int, budget_s: float | None,
                 elapsed_before_s: float, *, schedule: str = "cosine", warmup: float = 0.0):
        super().__init__()
        self.base_lr, self.steps_per_epoch = base_lr, steps_per_epoch
        self.total_steps = max(epochs * steps_per_epoch, 1)
        self.budget_s, self.elapsed_before_s = budget_s, elapsed_before_s
        self.schedule, self.warmup = schedule, warmup
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def rate(self, progress: float) -> float:
        """The rate at ``progress`` (0 = start, 1 = end of the run)."""
        progress = min(progress, 1.0)
        lr = self.base_lr * (0.5 * (1 + math.cos(math.pi * progress)) if self.schedule == "cosine" else 1.0)
        return lr * min(1.0, progress / self.warmup) if self.warmup else lr

    def on_train_batch_begin(self, batch, logs=None):
        progress = (self.epoch * self.steps_per_epoch + batch) / self.total_steps
        if self.budget_s:
            progress = max(progress, (self.elapsed_before_s + time.time() - self.start) / self.budget_s)
        self.model.optimizer.learning_rate = self.rate(progress)


# curves.png is redrawn after an epoch when this long has passed since the last drawing (0.5-1 s each), and
# always when the run ends
CURVES_EVERY_S = 30.0


class RunRecorder(keras.callbacks.Callback):
    """Best/last checkpoints, state.json, curves (at most every CURVES_EVERY_S), and the wall-clock budget."""

    def __init__(self, out: Path, meta: dict, monitor: str, mode: str, state: dict, budget_s, log):
        super().__init__()
        self.out, self.meta, self.monitor, self.mode = out, meta, monitor, mode
        self.state, self.budget_s, self.log = dict(state), budget_s, log
        self.stopped_by = "epochs"
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = self.plotted = time.time()
        self.base_elapsed = self.state["elapsed_s"]

    def start_from(self, model, val_ds) -> None:
        """Fine-tuning: the starting model is the first candidate for best.keras, scored on the validation
        images before any step, so a fine-tune that never beats it on them hands back the model it began
        from instead of a worse one."""
        score = model.evaluate(val_ds, verbose=0, return_dict=True).get(self.monitor.removeprefix("val_"))
        if score is None or not math.isfinite(score):
            return
        self.state["best"] = float(score)
        save_model(model, self.out / BEST, self.meta, with_optimizer=False)
        self.log(f"the starting model scores {self.monitor} {score:.4f} on the validation images: best.keras "
                 "until an epoch beats it")

    def on_train_batch_end(self, batch, logs=None):
        if self.budget_s is not None and time.time() - self.start >= self.budget_s:
            self.model.stop_training = True
            self.stopped_by = "time limit"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        best = self.state["best"]
        if value is not None and math.isfinite(value) and (
                best is None or (value < best if self.mode == "min" else value > best)):
            self.state["best"] = float(value)
            save_model(self.model, self.out / BEST, self.meta, with_optimizer=False)
        save_model(self.model, self.out / LAST, self.meta)
        self.state["epoch"] = epoch + 1
        self.state["elapsed_s"] = self.base_elapsed + time.time() - self.start
        write_text(self.out / "state.json", json.dumps(self.state))
        if time.time() - self.plotted >= CURVES_EVERY_S:   # short epochs: drawing would cost more than training
            from .viz import plot_history
            plot_history(self.out / "history.csv", self.out / "curves.png")
            self.plotted = time.time()

    def on_train_end(self, logs=None):
        if self.stopped_by == "time limit":
            self.log(f"time limit reached after {self.state['elapsed_s'] / 60:.1f} min; best checkpoint kept")
