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


def distance_target(objects: np.ndarray) -> np.ndarray:
    """The multi-task head's target: each pixel's distance to its object's border, divided by
    the object's largest (1 at the centre, falling to 0 at the edge; 0 on the background).
    Touching objects are kept apart by their own boundary pixels."""
    from scipy import ndimage
    inside = (objects > 0) & ~find_boundaries(objects, mode="inner")
    dist = ndimage.distance_transform_edt(inside).astype(np.float32)
    n = int(objects.max())
    if n == 0:
        return dist
    peak = np.asarray(ndimage.maximum(dist, objects, np.arange(n + 1)), np.float32)
    peak[peak == 0] = 1.0
    return np.where(objects > 0, dist / peak[objects], 0).astype(np.float32)
