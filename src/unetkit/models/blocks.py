"""Building blocks shared by the U-Net variants: conv pairs, down and up steps.

Every block uses ``keras.layers`` and ``keras.ops`` only, so the models run on the
TensorFlow, JAX and PyTorch backends alike.
"""
from __future__ import annotations

import keras
from keras import layers

from ..errors import UnetkitError

KERNEL_INIT = "he_normal"  # as in the seeds' Keras U-Net
# Moving statistics of batch norm: 0.9 (PyTorch's default) rather than Keras' 0.99. With 0.99 the
# statistics used at inference still carry 37 % of their initial values after 100 steps, and the
# runs this toolkit exists for are short (a 7-minute demo is 150 steps on a 2-core CPU): the ISBI
# trials of `unetkit tune` scored validation mean IoU 0.16 while their training batches scored 0.71.
BN_MOMENTUM = 0.9


def batch_norm_layer(name: str):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


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
            x = batch_norm_layer(f"{name}_bn{i}")(x)
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
            x = batch_norm_layer(f"{name}_upbn")(x)
            x = layers.Activation("relu", name=f"{name}_uprelu")(x)
        return x
    if mode == "transpose":
        return layers.Conv2DTranspose(
            filters, 2, strides=2, padding="same", kernel_initializer=KERNEL_INIT,
            name=f"{name}_upconvT",
        )(x)
    raise ValueError(f"unknown upsampling mode {mode!r}: use 'upsample' or 'transpose'")


def residual_block(x, filters: int, *, batch_norm: bool, name: str):
    """The conv pair with an identity shortcut (He et al. 2016; residual U-Net, Zhang et al. 2018):
    conv -> (BN) -> ReLU -> conv -> (BN), plus the input (1x1-projected when the width changes), ReLU."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, kernel_initializer=KERNEL_INIT, use_bias=not batch_norm,
                                 name=f"{name}_proj")(x)
        if batch_norm:
            shortcut = batch_norm_layer(f"{name}_projbn")(shortcut)
    y = layers.Conv2D(filters, 3, padding="same", kernel_initializer=KERNEL_INIT, use_bias=not batch_norm,
                      name=f"{name}_conv1")(x)
    if batch_norm:
        y = batch_norm_layer(f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", kernel_initializer=KERNEL_INIT, use_bias=not batch_norm,
                      name=f"{name}_conv2")(y)
    if batch_norm:
        y = batch_norm_layer(f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_relu2")(y)


def attention_gate(skip, gate, *, name: str):
    """Additive attention gate (Oktay et al. 2018): the decoder's feature ``gate`` (already at
    the skip's resolution) weighs the skip connection pixel by pixel,
    alpha = sigmoid(psi(relu(W_x skip + W_g gate))), skip * alpha."""
    inter = max(skip.shape[-1] // 2, 1)
    theta = layers.Conv2D(inter, 1, kernel_initializer=KERNEL_INIT, name=f"{name}_theta")(skip)
    phi = layers.Conv2D(inter, 1, kernel_initializer=KERNEL_INIT, name=f"{name}_phi")(gate)
    f = layers.Activation("relu", name=f"{name}_relu")(layers.Add(name=f"{name}_add")([theta, phi]))
    alpha = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_psi")(f)
    return layers.Multiply(name=f"{name}_gate")([skip, alpha])


def encoder_decoder(inputs, *, block=conv_block, gate=None, base_filters: int, depth: int, dropout: float,
                    batch_norm: bool, upsampling: str):
    """The U shape every variant shares: ``depth`` down steps of ``block`` + pooling, a bottom
    block, and up steps that concatenate the (optionally ``gate``-weighted) skip connection."""
    x = inputs
    skips = []
    for level in range(depth):
        x = block(x, base_filters * 2**level, batch_norm=batch_norm, name=f"enc{level}")
        if level == depth - 1 and dropout > 0:
            # the seeds put Dropout on the deepest encoder block too (drop4)
            x = layers.Dropout(dropout, name=f"enc{level}_dropout")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = block(x, base_filters * 2**depth, batch_norm=batch_norm, name="bottom")
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottom_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = up_block(x, filters, mode=upsampling, batch_norm=batch_norm, name=f"dec{level}")
        skip = gate(skips[level], x, name=f"att{level}") if gate else skips[level]
        x = layers.Concatenate(axis=-1, name=f"dec{level}_concat")([skip, x])
        x = block(x, filters, batch_norm=batch_norm, name=f"dec{level}")
    return x


ENCODER_PREFIXES = ("enc", "bottom")   # the layer names encoder_decoder gives the way down and the bottom block


def freeze_encoder(model) -> int:
    """Make the encoder (the way down and the bottom block) untrainable; returns how many layers.

    For fine-tuning on a few images: the decoder adapts while the features stay as learned.
    Frozen batch norm layers also run on their stored statistics (Keras 3), which a few
    images of a new appearance would otherwise pull around."""
    frozen = 0
    for layer in model.layers:
        if layer.name.startswith(ENCODER_PREFIXES) and layer.weights:
            layer.trainable = False
            frozen += 1
    if not frozen:
        raise UnetkitError(f"model {model.name!r} has no encoder layers named {', '.join(ENCODER_PREFIXES)}...; "
                           "freeze only unetkit's U-Nets (or train without --freeze)")
    return frozen


def check_options(input_channels: int, num_classes: int, base_filters: int, depth: int, aux) -> None:
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if base_filters < 1 or input_channels < 1 or num_classes < 1:
        raise ValueError("base_filters, input_channels and num_classes must be positive")
    from .base import AUX_HEADS
    if aux is not None and aux not in AUX_HEADS:
        raise ValueError(f"unknown auxiliary head {aux!r}: use one of {', '.join(AUX_HEADS)} or none")


def output_head(x, num_classes: int, aux: str | None = None):
    """1x1 conv to class scores: sigmoid for one class, softmax for more; with ``aux`` a
    sigmoid regression channel (e.g. the distance map) appended last, in the same tensor, so
    every loss, metric and tiling path sees one output.

    The head always computes in float32 so mixed precision keeps stable probabilities.
    """
    activation = "sigmoid" if num_classes == 1 else "softmax"
    main = layers.Conv2D(num_classes, 1, activation=activation, dtype="float32", name="head")(x)
    if not aux:
        return main
    extra = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name=f"{aux}_head")(x)
    return layers.Concatenate(axis=-1, dtype="float32", name="heads")([main, extra])


__all__ = ["conv_block", "residual_block", "attention_gate", "encoder_decoder", "up_block", "output_head",
           "check_options", "KERNEL_INIT", "keras"]
