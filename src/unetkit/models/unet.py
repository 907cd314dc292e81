"""The classic U-Net (Ronneberger et al. 2015) as the Keras tutorials build it.

Defaults reproduce the seeds' network exactly: 3x3 'same' convs with ReLU and
he_normal, 64..1024 filters over four down steps, Dropout 0.5 after the two deepest
blocks, UpSampling2D + 2x2 conv, skip concatenation, and a 1x1 sigmoid head.
"""
from __future__ import annotations

import keras
from keras import layers

from .blocks import check_options, conv_block, encoder_decoder, output_head


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
    aux: str | None = None,
    name: str = "unet",
) -> keras.Model:
    """Build a U-Net.

    ``seed_head`` keeps the seeds' extra 2-filter 3x3 conv before a one-class head
    (needed for parameter parity; harmless to drop).
    ``depth`` counts the down steps (4 gives the paper's 64..1024 ladder).
    ``aux="distance"`` adds the multi-task distance head (see ``base.AUX_HEADS``).
    The network is fully convolutional: ``input_size=None`` accepts any height and
    width divisible by ``2**depth``.
    """
    check_options(input_channels, num_classes, base_filters, depth, aux)
    inputs = keras.Input((input_size, input_size, input_channels), name="image")
    x = encoder_decoder(inputs, block=conv_block, base_filters=base_filters, depth=depth, dropout=dropout,
                        batch_norm=batch_norm, upsampling=upsampling)
    if num_classes == 1 and seed_head:
        # the seeds add a 2-filter 3x3 conv before the 1x1 sigmoid head (conv9 third layer)
        x = layers.Conv2D(2, 3, padding="same", activation="relu",
                          kernel_initializer="he_normal", name="pre_head")(x)
    return keras.Model(inputs, output_head(x, num_classes, aux), name=name)
