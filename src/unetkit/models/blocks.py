"""Building blocks shared by the U-Net variants: conv pairs, down and up steps.

Every block uses ``keras.layers`` and ``keras.ops`` only, so the models run on the
TensorFlow, JAX and PyTorch backends alike.
"""
from __future__ import annotations

import keras
from keras import layers

KERNEL_INIT = "he_normal"  # as in the seeds' Keras U-Net


def conv_block(x, filters: int, *, batch_norm: bool, name: str):
    """Two 3x3 'same' convolutions with ReLU (the paper's conv pair).

    With batch norm the order is conv -> BN -> ReLU, and the conv has no bias
    because BN's shift makes it redundant.
    """
    for i in (1, 2):
        x = layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=KERNEL_INIT,
            use_bias=not batch_norm, name=f"{name}_conv{i}",
            activation=None if batch_norm else "relu",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def up_block(x, filters: int, *, mode: str, batch_norm: bool, name: str):
    """Double the spatial size and halve the channels.

    ``upsample``: UpSampling2D then a 2x2 'same' conv with ReLU (the seeds' choice).
    ``transpose``: one stride-2 transposed conv (learned upsampling).
    """
    if mode == "upsample":
        x = layers.UpSampling2D(size=2, name=f"{name}_upsample")(x)
        x = layers.Conv2D(
            filters, 2, padding="same", kernel_initializer=KERNEL_INIT,
            use_bias=not batch_norm, activation=None if batch_norm else "relu",
            name=f"{name}_upconv",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_upbn")(x)
            x = layers.Activation("relu", name=f"{name}_uprelu")(x)
        return x
    if mode == "transpose":
        return layers.Conv2DTranspose(
            filters, 2, strides=2, padding="same", kernel_initializer=KERNEL_INIT,
            name=f"{name}_upconvT",
        )(x)
    raise ValueError(f"unknown upsampling mode {mode!r}: use 'upsample' or 'transpose'")


def output_head(x, num_classes: int):
    """1x1 conv to class scores: sigmoid for one class, softmax for more.

    The head always computes in float32 so mixed precision keeps stable probabilities.
    """
    activation = "sigmoid" if num_classes == 1 else "softmax"
    return layers.Conv2D(num_classes, 1, activation=activation, dtype="float32", name="head")(x)


__all__ = ["conv_block", "up_block", "output_head", "KERNEL_INIT", "keras"]
