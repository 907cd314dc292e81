"""The classic U-Net (Ronneberger et al. 2015) as the Keras tutorials build it.

Defaults reproduce the seeds' network exactly: 3x3 'same' convs with ReLU and
he_normal, 64..1024 filters over four down steps, Dropout 0.5 after the two deepest
blocks, UpSampling2D + 2x2 conv, skip concatenation, and a 1x1 sigmoid head.
"""
from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_block, output_head, up_block


def unet(
    input_channels: int = 1,
    num_classes: int = 1,
    base_filters: int = 64,
    depth: int = 4,
    dropout: float = 0.5,
    batch_norm: bool = False,
    upsampling: str = "upsample",
    input_size: int | None = None,
    seed_head: bool = True,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net.

    ``seed_head`` keeps the seeds' extra 2-filter 3x3 conv before a one-class head
    (needed for parameter parity; harmless to drop).
    ``depth`` counts the down steps (4 gives the paper's 64..1024 ladder).
    The network is fully convolutional: ``input_size=None`` accepts any height and
    width divisible by ``2**depth``.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if base_filters < 1 or input_channels < 1 or num_classes < 1:
        raise ValueError("base_filters, input_channels and num_classes must be positive")
    inputs = keras.Input((input_size, input_size, input_channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, batch_norm=batch_norm, name=f"enc{level}")
        if level == depth - 1 and dropout > 0:
            # the seeds put Dropout on the deepest encoder block too (drop4)
            x = layers.Dropout(dropout, name=f"enc{level}_dropout")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = conv_block(x, base_filters * 2**depth, batch_norm=batch_norm, name="bottom")
    if dropout > 0:
        x = layers.Dropout(dropout, name="bottom_dropout")(x)
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = up_block(x, filters, mode=upsampling, batch_norm=batch_norm, name=f"dec{level}")
        x = layers.Concatenate(axis=-1, name=f"dec{level}_concat")([skips[level], x])
        x = conv_block(x, filters, batch_norm=batch_norm, name=f"dec{level}")
    if num_classes == 1 and seed_head:
        # the seeds add a 2-filter 3x3 conv before the 1x1 sigmoid head (conv9 third layer)
        x = layers.Conv2D(2, 3, padding="same", activation="relu",
                          kernel_initializer="he_normal", name="pre_head")(x)
    outputs = output_head(x, num_classes)
    return keras.Model(inputs, outputs, name=name)
