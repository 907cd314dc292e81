"""Architectures through the whole pipeline: every registered one trains and predicts,
a multi-task head trains end to end, and a new architecture needs nothing outside models/."""
import json

import keras
import numpy as np
import pytest

from conftest import tiny_config
from unetkit.counting import count
from unetkit.io import read_array
from unetkit.prediction import predict
from unetkit.training import train


@pytest.mark.parametrize("name", ["resunet", "attention_unet"])
def test_each_architecture_trains_and_predicts(synth, tmp_path, name):
    images, masks = synth
    cfg = tiny_config(images, masks)
    cfg.model.name = name
    train(cfg, tmp_path / "run", verbose=0)
    from unetkit.checkpoint import load_model
    _, meta = load_model(tmp_path / "run")
    assert meta["architecture"] == name and meta["divisor"] == 4
    predict(tmp_path / "run", [images], tmp_path / "pred", verbose=False)
    assert read_array(tmp_path / "pred" / "000_mask.png").shape == (64, 64)


def test_multi_task_distance_head_trains_and_predicts(synth, tmp_path):
    images, masks = synth
    cfg = tiny_config(images, masks)
    cfg.model.aux, cfg.model.aux_weight = "distance", 2.0
    train(cfg, tmp_path / "run", verbose=0)
    from unetkit.checkpoint import load_model
    model, meta = load_model(tmp_path / "run")
    assert meta["aux"] == "distance" and model.output_shape[-1] == 2       # sigmoid main head + distance head
    predict(tmp_path / "run", [images], tmp_path / "pred", verbose=False)
    prob = read_array(tmp_path / "pred" / "000_prob.tif")
    assert prob.shape == (64, 64)                                          # outputs hold the main head only
    rows = count(str(tmp_path / "run"), [images], tmp_path / "count", verbose=False)
    assert len(rows) == 6


def test_a_new_architecture_needs_nothing_outside_models(synth, tmp_path):
    from keras import layers
    from unetkit.models import register, unregister
    from unetkit.models.blocks import output_head

    def toy(input_channels=1, num_classes=1, depth=1, aux=None, input_size=None):
        inputs = keras.Input((input_size, input_size, input_channels))
        x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
        for _ in range(depth):
            x = layers.MaxPooling2D(2)(x)
        for _ in range(depth):
            x = layers.UpSampling2D(2)(x)
        return keras.Model(inputs, output_head(x, num_classes, aux))

    register("toy", toy, "a test architecture")
    try:
        images, masks = synth
        cfg = tiny_config(images, masks)
        cfg.model.name = "toy"
        train(cfg, tmp_path / "run", verbose=0)
        predict(tmp_path / "run", [images], tmp_path / "pred", verbose=False)
        assert len(list((tmp_path / "pred").glob("*_mask.png"))) == 6
        from unetkit.checkpoint import load_model
        _, meta = load_model(tmp_path / "run")
        assert meta["architecture"] == "toy" and meta["divisor"] == 4     # depth 2 from the config
    finally:
        unregister("toy")


def test_a_model_trained_on_resized_images_predicts_at_its_working_scale(synth, tmp_path):
    """The seeds' recipe resizes whole images: prediction must work at that scale and map back."""
    images, masks = synth
    cfg = tiny_config(images, masks)
    cfg.data.sampling = "resize"     # 64 px images resized to 32 px patches: scale 0.5
    train(cfg, tmp_path / "run", verbose=0)
    from unetkit.predictor import Predictor
    p = Predictor.load(tmp_path / "run")
    assert p.scale == 0.5
    seen = []
    inner = p.model

    class Spy:
        def predict_on_batch(self, x):
            seen.append(x.shape)
            return inner.predict_on_batch(x)

    p.model = Spy()
    predict(p, [images / "000.png"], tmp_path / "pred", verbose=False)
    assert max(s[1] for s in seen) == 32 + 2 * 64   # the 32 px version plus the mirror margins (64 px: 192)
    assert read_array(tmp_path / "pred" / "000_mask.png").shape == (64, 64)   # mapped back to full size
