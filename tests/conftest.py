import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from unetkit.io import write_image
from unetkit.data.synthetic import write_dataset


@pytest.fixture
def synth(tmp_path):
    """A tiny synthetic dataset: 6 pairs of 64x64 images with binary masks."""
    images, masks = write_dataset(tmp_path / "data", n=6, size=64, seed=1)
    return images, masks


@pytest.fixture(scope="session")
def base_model(tmp_path_factory):
    """A tiny model trained once per session on a synthetic set like ``synth``'s, to fine-tune from
    (its best.keras; tests read it and never write beside it)."""
    from unetkit.training import train
    root = tmp_path_factory.mktemp("base")
    images, masks = write_dataset(root / "data", n=6, size=64, seed=1)
    return train(tiny_config(images, masks), root / "run", verbose=0).best_path


@pytest.fixture
def write(tmp_path):
    def _write(rel, arr):
        return write_image(tmp_path / rel, np.asarray(arr))
    return _write


def tiny_config(images, masks, **train):
    """A config that trains in seconds: 4 base filters, depth 2, 32 px patches."""
    from unetkit.config import RunConfig
    cfg = RunConfig()
    cfg.data.images, cfg.data.masks = str(images), str(masks)
    cfg.data.patch_size = 32
    cfg.data.val_range = "4:6"
    cfg.model.base_filters, cfg.model.depth = 4, 2
    cfg.train.epochs, cfg.train.steps_per_epoch, cfg.train.batch_size = 2, 3, 2
    cfg.train.precision = "float32"
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg
