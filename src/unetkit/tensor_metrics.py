"""Per-batch metrics logged during training (``keras.ops`` only).

The exact, per-image evaluation lives in ``metrics`` (NumPy); these are the running
numbers a user watches in the progress bar and the curves.
"""
from __future__ import annotations

from keras import ops

from .losses import class_probs, one_hot, split_heads, split_target


def _hard(y_true, y_pred):
    y_true, y_pred, _ = split_heads(y_true, y_pred)  # the main head only
    cls, _ = split_target(y_true)
    probs = class_probs(ops.cast(ops.convert_to_tensor(y_pred), "float32"))
    n = probs.shape[-1]
    return one_hot(cls, n), one_hot(ops.argmax(probs, axis=-1), n)


def accuracy(y_true, y_pred):
    t, p = _hard(y_true, y_pred)
    return ops.mean(ops.sum(t * p, axis=-1))


def dice(y_true, y_pred):
    """Dice of the foreground classes (mean over classes 1..C-1)."""
    t, p = _hard(y_true, y_pred)
    inter = ops.sum(t * p, axis=(0, 1, 2))
    denom = ops.sum(t, axis=(0, 1, 2)) + ops.sum(p, axis=(0, 1, 2))
    return ops.mean(((2 * inter + 1e-6) / (denom + 1e-6))[1:])


def mean_iou(y_true, y_pred):
    """IoU averaged over all classes, background included."""
    t, p = _hard(y_true, y_pred)
    inter = ops.sum(t * p, axis=(0, 1, 2))
    union = ops.sum(t, axis=(0, 1, 2)) + ops.sum(p, axis=(0, 1, 2)) - inter
    return ops.mean((inter + 1e-6) / (union + 1e-6))


TRAINING_METRICS = [accuracy, dice, mean_iou]
