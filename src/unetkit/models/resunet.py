"""Residual U-Net (Zhang, Liu and Wang 2018, "Road extraction by deep residual U-Net"):
the U-Net's conv pairs become residual blocks with identity (or 1x1-projected)
shortcuts, which train deeper and faster; batch norm on by default."""
from __future__ import annotations

import keras

from .blocks import check_options, encoder_decoder, output_head, residual_block


def resunet(input_channels: int = 1, num_classes: int = 1, base_filters: int = 16, depth: int = 4,
            dropout: float = 0.0, batch_norm: bool = True, upsampling: str = "upsample",
            input_size: int | None = None, aux: str | None = None, name: str = "resunet") -> keras.Model:
    check_options(input_channels, num_classes, base_filters, depth, aux)
    inputs = keras.Input((input_size, input_size, input_channels), name="image")
    x = encoder_decoder(inputs, block=residual_block, base_filters=base_filters, depth=depth, dropout=dropout,
                        batch_norm=batch_norm, upsampling=upsampling)
    return keras.Model(inputs, output_head(x, num_classes, aux), name=name)
