"""Attention U-Net (Oktay et al. 2018): additive attention gates on the skip connections,
so the decoder's coarser, more semantic features decide which encoder pixels pass."""
from __future__ import annotations

import keras

from .blocks import attention_gate, check_options, conv_block, encoder_decoder, output_head


def attention_unet(input_channels: int = 1, num_classes: int = 1, base_filters: int = 16, depth: int = 4,
                   dropout: float = 0.0, batch_norm: bool = True, upsampling: str = "upsample",
                   input_size: int | None = None, aux: str | None = None,
                   name: str = "attention_unet") -> keras.Model:
    check_options(input_channels, num_classes, base_filters, depth, aux)
    inputs = keras.Input((input_size, input_size, input_channels), name="image")
    x = encoder_decoder(inputs, block=conv_block, gate=attention_gate, base_filters=base_filters, depth=depth,
                        dropout=dropout, batch_norm=batch_norm, upsampling=upsampling)
    return keras.Model(inputs, output_head(x, num_classes, aux), name=name)
