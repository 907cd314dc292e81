"""Losses on tensors (``keras.ops`` only, so every Keras backend works).

Targets are (B, H, W, 2): class index, pixel weight (see ``data.sampling``); with a
multi-task auxiliary head, (B, H, W, 4): class, weight, auxiliary target, its loss weight.
Predictions are (B, H, W, 1) sigmoid or (B, H, W, C) softmax probabilities, plus the
auxiliary channel last when the model has one. Every loss adds the auxiliary term
(weighted mean squared error), so any loss works with any head.
"""
from __future__ import annotations

from keras import ops

from .errors import UnetkitError

EPS = 1e-7


def split_target(y_true):
    y_true = ops.convert_to_tensor(y_true, "float32")  # NumPy in, tensor out, on every backend
    return y_true[..., 0], y_true[..., 1]


def split_heads(y_true, y_pred):
    """(main target, main prediction, auxiliary loss term): the term is 0 without an auxiliary head."""
    y_true = ops.convert_to_tensor(y_true, "float32")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if y_true.shape[-1] == 4:
        aux = ops.mean(y_true[..., 3] * ops.square(y_pred[..., -1] - y_true[..., 2]), axis=(1, 2))
        return y_true[..., :2], y_pred[..., :-1], aux
    return y_true, y_pred, 0.0


def per_sample(value, y_true):
    """A batch-level loss as one value per sample. Keras reduces (B,) losses itself and scales
    them for data-parallel replicas; a scalar it would pass through unscaled, and replicas'
    gradients would add up instead of averaging."""
    return value * ops.ones((ops.shape(y_true)[0],), "float32")


def class_probs(y_pred):
    """Per-class probabilities (B, H, W, C) with C >= 2; a sigmoid output p becomes [1-p, p]."""
    if y_pred.shape[-1] == 1:
        return ops.concatenate([1.0 - y_pred, y_pred], axis=-1)
    return y_pred


def one_hot(cls, num_classes):
    return ops.one_hot(ops.cast(cls, "int32"), num_classes)


def _cross_entropy(y_true, y_pred):
    cls, w = split_target(y_true)
    probs = ops.clip(class_probs(ops.cast(ops.convert_to_tensor(y_pred), "float32")), EPS, 1.0 - EPS)
    onehot = one_hot(cls, probs.shape[-1])
    nll = -ops.sum(onehot * ops.log(probs), axis=-1)
    return ops.mean(w * nll, axis=(1, 2))  # per sample: Keras averages over the batch


def _dice(y_true, y_pred):
    cls, _ = split_target(y_true)
    probs = class_probs(ops.cast(ops.convert_to_tensor(y_pred), "float32"))
    onehot = one_hot(cls, probs.shape[-1])
    axes = (0, 1, 2)
    inter = ops.sum(probs * onehot, axis=axes)
    denom = ops.sum(probs, axis=axes) + ops.sum(onehot, axis=axes)
    dice = (2.0 * inter + 1.0) / (denom + 1.0)
    return 1.0 - ops.mean(dice[1:])


def cross_entropy(y_true, y_pred):
    """Pixel-weighted cross-entropy, mean over pixels. With all-one weights it is plain
    (binary) cross-entropy; with the paper's weight map it is the border-weighted loss."""
    t, p, aux = split_heads(y_true, y_pred)
    return _cross_entropy(t, p) + aux


def dice_loss(y_true, y_pred):
    """1 - soft Dice averaged over the foreground classes (all classes but 0), per batch."""
    t, p, aux = split_heads(y_true, y_pred)
    return per_sample(_dice(t, p), t) + aux


def ce_dice(y_true, y_pred):
    t, p, aux = split_heads(y_true, y_pred)
    return _cross_entropy(t, p) + per_sample(_dice(t, p), t) + aux


# name -> (loss function, needs the paper's weight map)
LOSSES = {
    "bce": (cross_entropy, False),
    "dice": (dice_loss, False),
    "bce_dice": (ce_dice, False),
    "weighted_bce": (cross_entropy, True),
}


def get_loss(name: str):
    """Return (loss_fn, needs_weight_map) for a loss name."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UnetkitError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}") from None
