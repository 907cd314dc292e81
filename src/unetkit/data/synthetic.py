"""Generated cells with masks: random disks/ellipses, some touching, on noisy backgrounds.

Used by the tests (answers known by construction) and the synthetic demo.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.draw import ellipse

from ..io import write_image


def random_cells(size: int = 256, n: int = 12, radius=(8, 20), rng=None, touching: bool = True):
    """(image uint8, instance labels uint16) with ``n`` elliptical cells."""
    rng = rng or np.random.default_rng(0)
    labels = np.zeros((size, size), np.uint16)
    k = 0
    for _ in range(n * 20):
        if k >= n:
            break
        ry, rx = rng.uniform(*radius, size=2)
        cy, cx = rng.uniform(radius[1], size - radius[1], size=2)
        rr, cc = ellipse(cy, cx, ry, rx, shape=labels.shape, rotation=rng.uniform(0, np.pi))
        overlap = labels[rr, cc] > 0
        if overlap.mean() > (0.15 if touching else 0.0):
            continue
        k += 1
        free = ~overlap
        labels[rr[free], cc[free]] = k
    fg = labels > 0
    img = rng.normal(60, 12, labels.shape)
    img[fg] += rng.uniform(80, 140)
    from scipy.ndimage import gaussian_filter
    img = gaussian_filter(img, 1.0) + rng.normal(0, 6, labels.shape)
    return np.clip(img, 0, 255).astype(np.uint8), labels


def write_dataset(folder, n: int = 24, size: int = 256, seed: int = 0, instances: bool = False):
    """Write ``n`` image/mask pairs under folder/images and folder/masks; returns both paths."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img, lab = random_cells(size, int(rng.integers(6, 16)), rng=rng)
        write_image(folder / "images" / f"{i:03d}.png", img)
        write_image(folder / "masks" / f"{i:03d}.png", lab if instances else (lab > 0).astype(np.uint8) * 255)
    return folder / "images", folder / "masks"
