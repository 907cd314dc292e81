"""The U-Net paper's overlap-tile strategy for images of any size.

The image is mirror-padded by ``overlap`` pixels (the paper's extrapolation by
mirroring), cut into overlapping tiles, each tile predicted, and the tiles blended
with a weight that ramps up from the tile edges, so seams carry no edge artefacts
and nothing is ever resized.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .data.sampling import tile_starts


def ramp_window(size: int, overlap: int) -> np.ndarray:
    """1D blending weight of a tile: ~0 over the outer ``overlap/2`` pixels (whose context
    is cut off by the tile edge), rising linearly to 1 at ``overlap`` pixels from the edge.

    Neighbouring tiles overlap by ``2 * overlap``, so every pixel lies at least
    ``overlap`` inside some tile, where that tile's weight is 1.
    """
    i = np.arange(size, dtype=np.float32)
    edge = np.minimum(i, size - 1 - i)
    half = overlap / 2.0
    return np.clip((edge - half + 1) / max(half, 1), 1e-6, 1.0).astype(np.float32)


def tile_grid(shape, tile: int, overlap: int) -> list[tuple[int, int]]:
    stride = max(tile - overlap, 1)
    return [(y, x) for y in tile_starts(shape[0], tile, stride) for x in tile_starts(shape[1], tile, stride)]


def fit_tile(tile: int, shape, multiple: int, margin: int = 0) -> int:
    """Tile side for a padded image of ``shape``: no larger than needed.

    With at most ``tile`` px per tile, count the tiles each axis needs, then shrink the
    tile so those tiles just cover the axis (less wasted overlap), keeping it a multiple
    of the network's size divisor."""
    inner = max(tile - 2 * margin, multiple)
    sides = []
    for length in shape[:2]:
        n = max(int(np.ceil((length - 2 * margin) / inner)), 1)
        sides.append(int(np.ceil((length - 2 * margin) / n)) + 2 * margin)
    t = int(np.ceil(max(sides) / multiple)) * multiple
    return max(min(t, int(np.ceil(tile / multiple)) * multiple), multiple)


def predict_tiled(predict_batch: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *, tile: int = 512,
                  overlap: int = 64, multiple: int = 16, batch_size: int = 2, tta: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Probabilities (H, W, K) for ``image`` (H, W, C).

    ``predict_batch`` maps (B, t, t, C) float32 to (B, t, t, K). ``multiple`` is the
    network's size divisor 2^depth; ``tta`` averages the four flips.
    """
    h, w = image.shape[:2]
    m = overlap
    padded = np.pad(image, [(m, m), (m, m), (0, 0)], mode="symmetric")
    t = fit_tile(tile, padded.shape, multiple, m)
    # pad up to the tile size too (small images), again by mirroring
    ph, pw = max(t - padded.shape[0], 0), max(t - padded.shape[1], 0)
    if ph or pw:
        padded = np.pad(padded, [(0, ph), (0, pw), (0, 0)], mode="symmetric")
    window = np.outer(ramp_window(t, m), ramp_window(t, m))[..., None]
    positions = tile_grid(padded.shape, t, 2 * m if m else 0)
    acc = None
    weight = np.zeros(padded.shape[:2] + (1,), np.float32)
    flips = [(False, False), (True, False), (False, True), (True, True)] if tta else [(False, False)]
    done = 0
    for start in range(0, len(positions), batch_size):
        group = positions[start:start + batch_size]
        tiles = np.stack([padded[y:y + t, x:x + t] for y, x in group]).astype(np.float32)
        probs = np.zeros(tiles.shape[:3] + (0,), np.float32)
        for fy, fx in flips:
            view = tiles[:, ::-1] if fy else tiles
            view = view[:, :, ::-1] if fx else view
            out = np.asarray(predict_batch(np.ascontiguousarray(view)), np.float32)
            out = out[:, :, ::-1] if fx else out
            out = out[:, ::-1] if fy else out
            probs = out.copy() if probs.shape[-1] == 0 else probs + out
        probs /= len(flips)
        if acc is None:
            acc = np.zeros(padded.shape[:2] + (probs.shape[-1],), np.float32)
        for (y, x), p in zip(group, probs):
            acc[y:y + t, x:x + t] += p * window
            weight[y:y + t, x:x + t] += window
        done += len(group)
        if progress:
            progress(done, len(positions))
    return (acc / weight)[m:m + h, m:m + w]
