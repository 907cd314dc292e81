"""Training targets from masks: class maps, and the objects behind them.

``classes``: the mask's classes as they are (instance masks become foreground/background).
``boundary``: background (0) / interior (1) / boundary (2) from instance labels, so a
network learns where touching objects meet (the seeds' 'boundary detection' idea).
"""
from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from ..errors import UnetkitError
from .weightmap import objects_of


def make_targets(labels: np.ndarray, data_cfg) -> tuple[np.ndarray, np.ndarray]:
    """Return (class map uint8, object ids int32) for one mask already read as labels."""
    instances = data_cfg.mask_mode == "instances"
    objects = labels.astype(np.int32) if instances else objects_of(labels)
    if data_cfg.target == "classes":
        return ((labels > 0).astype(np.uint8) if instances else labels.astype(np.uint8)), objects
    if data_cfg.target == "boundary":
        return boundary_classes(objects), objects
    raise UnetkitError(f"unknown target {data_cfg.target!r}: use classes or boundary")


def boundary_classes(objects: np.ndarray) -> np.ndarray:
    """0 background, 1 interior, 2 the objects' own outermost pixels (inner boundary)."""
    out = (objects > 0).astype(np.uint8)
    out[find_boundaries(objects, mode="inner") & (objects > 0)] = 2
    return out
