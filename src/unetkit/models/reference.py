"""The seeds' U-Net written layer by layer, exactly as the Keras tutorial does.

Kept only as a baseline: the parity test compares parameter counts with
``unetkit.models.build("unet")`` and ``benchmarks/speed.py`` times both.
"""
from __future__ import annotations

import keras
from keras.layers import Conv2D, Dropout, Input, MaxPooling2D, UpSampling2D, concatenate


def seed_unet(input_size=(256, 256, 1)) -> keras.Model:
    def conv(filters, x, k=3):
        return Conv2D(filters, k, activation="relu", padding="same", kernel_initializer="he_normal")(x)

    inputs = Input(input_size)
    conv1 = conv(64, conv(64, inputs))
    pool1 = MaxPooling2D(pool_size=(2, 2))(conv1)
    conv2 = conv(128, conv(128, pool1))
    pool2 = MaxPooling2D(pool_size=(2, 2))(conv2)
    conv3 = conv(256, conv(256, pool2))
    pool3 = MaxPooling2D(pool_size=(2, 2))(conv3)
    conv4 = conv(512, conv(512, pool3))
    drop4 = Dropout(0.5)(conv4)
    pool4 = MaxPooling2D(pool_size=(2, 2))(drop4)
    conv5 = conv(1024, conv(1024, pool4))
    drop5 = Dropout(0.5)(conv5)
    up6 = conv(512, UpSampling2D(size=(2, 2))(drop5), k=2)
    conv6 = conv(512, conv(512, concatenate([drop4, up6], axis=3)))
    up7 = conv(256, UpSampling2D(size=(2, 2))(conv6), k=2)
    conv7 = conv(256, conv(256, concatenate([conv3, up7], axis=3)))
    up8 = conv(128, UpSampling2D(size=(2, 2))(conv7), k=2)
    conv8 = conv(128, conv(128, concatenate([conv2, up8], axis=3)))
    up9 = conv(64, UpSampling2D(size=(2, 2))(conv8), k=2)
    conv9 = conv(64, conv(64, concatenate([conv1, up9], axis=3)))
    conv9 = conv(2, conv9)
    conv10 = Conv2D(1, 1, activation="sigmoid")(conv9)
    return keras.Model(inputs=inputs, outputs=conv10)
