import keras
import numpy as np
import pytest


from unetkit.errors import UnetkitError
from unetkit.losses import ce_dice, cross_entropy, dice_loss, get_loss
from unetkit.tensor_metrics import accuracy, dice, mean_iou


def batch_loss(fn, args):
    """The batch loss Keras reduces a per-sample loss to: the mean over the batch."""
    return float(np.mean(keras.ops.convert_to_numpy(fn(*args))))

rng = np.random.default_rng(0)
CLS = (rng.random((2, 8, 8)) > 0.5).astype("float32")
P = rng.uniform(0.05, 0.95, (2, 8, 8, 1)).astype("float32")


def _target(cls, w=None):
    return np.stack([cls, np.ones_like(cls) if w is None else w], -1).astype("float32")


def test_unweighted_ce_equals_keras_binary_crossentropy():
    ours = batch_loss(cross_entropy, (_target(CLS), P))
    ref = float(keras.ops.mean(keras.losses.binary_crossentropy(CLS[..., None], P)))
    assert ours == pytest.approx(ref, rel=1e-4)


def test_weights_scale_the_loss_pixelwise():
    w = np.where(CLS > 0, 3.0, 1.0).astype("float32")
    weighted = batch_loss(cross_entropy, (_target(CLS, w), P))
    p = P[..., 0]
    nll = -(CLS * np.log(p) + (1 - CLS) * np.log(1 - p))
    assert weighted == pytest.approx(float((w * nll).mean()), rel=1e-4)


def test_softmax_ce_and_dice():
    probs = np.zeros((1, 2, 2, 3), "float32")
    probs[..., 1] = 1.0
    cls = np.ones((1, 2, 2), "float32")
    assert batch_loss(dice_loss, (_target(cls), probs)) == pytest.approx(0.0, abs=1e-3)
    assert batch_loss(cross_entropy, (_target(cls), probs)) < 1e-5
    wrong = _target(np.full((1, 2, 2), 2.0, "float32"))
    assert batch_loss(dice_loss, (wrong, probs)) > 0.5
    assert batch_loss(ce_dice, (wrong, probs)) > batch_loss(dice_loss, (wrong, probs))


def test_training_metrics_on_a_known_case():
    cls = np.array([[[0, 1], [1, 1]]], "float32")
    pred = np.array([[[0.1], [0.9]], [[0.2], [0.8]]], "float32")[None]  # predicts 0,1 / 0,1
    t = _target(cls)
    assert float(accuracy(t, pred)) == pytest.approx(0.75)
    assert float(dice(t, pred)) == pytest.approx(2 * 2 / (3 + 2), rel=1e-4)
    assert float(mean_iou(t, pred)) == pytest.approx((1 / 2 + 2 / 3) / 2, rel=1e-4)


def test_losses_are_per_sample_so_replicas_average():
    per_sample = cross_entropy(_target(CLS), P)
    assert tuple(per_sample.shape) == (CLS.shape[0],)


def test_unknown_loss():
    with pytest.raises(UnetkitError, match="unknown loss 'focal'"):
        get_loss("focal")
    assert get_loss("weighted_bce")[1] is True
