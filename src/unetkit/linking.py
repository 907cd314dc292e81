"""Objects of consecutive planes linked into one: z-slices of a nucleus, frames of a track.

An object takes the id of the previous plane's object it overlaps most, where each is the other's best match and
their IoU is at least a threshold: ``LINK_IOU`` for z-slices (the same nucleus a slice apart), ``TRACK_IOU`` for
frames (``count --t track``: a nucleus may move up to about half its diameter a frame and keep IoU 0.25; IoU 0.5
stops at a quarter, benchmarks/README.md section 35). Above IoU 0.5 a match is unique anyway.
Pure functions on label arrays: the overlaps of two planes are counted region by region (``Overlaps.add``), so a
whole slide's planes are linked block by block (``blocks.labels``) and a stack held in memory at once
(``link_stack``, the napari widget).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LINK_IOU = 0.5     # z slices
TRACK_IOU = 0.25   # frames


@dataclass
class Overlaps:
    """Pixel counts of every object of plane a and plane b, and of every pair that overlaps."""
    pairs: dict = field(default_factory=dict)    # (id in a, id in b) -> overlapping pixels
    area_a: dict = field(default_factory=dict)
    area_b: dict = field(default_factory=dict)

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Count one region of the two planes (same place, same shape; 0 = background)."""
        a, b = a.astype(np.uint64), b.astype(np.uint64)
        for ids, area in ((a, self.area_a), (b, self.area_b)):
            v, c = np.unique(ids[ids > 0], return_counts=True)
            for i, n in zip(v.tolist(), c.tolist()):
                area[i] = area.get(i, 0) + n
        both = (a > 0) & (b > 0)
        v, c = np.unique((a[both] << np.uint64(32)) | b[both], return_counts=True)
        for key, n in zip(v.tolist(), c.tolist()):
            pair = (key >> 32, key & 0xFFFFFFFF)
            self.pairs[pair] = self.pairs.get(pair, 0) + n

    def links(self, min_iou: float) -> dict[int, int]:
        """{id in b: id in a} for the pairs that are each other's best match with IoU >= ``min_iou``."""
        best_of_a: dict[int, tuple[float, int]] = {}
        best_of_b: dict[int, tuple[float, int]] = {}
        for (ia, ib), n in self.pairs.items():
            iou = n / (self.area_a[ia] + self.area_b[ib] - n)
            if iou > best_of_a.get(ia, (0.0, 0))[0]:
                best_of_a[ia] = (iou, ib)
            if iou > best_of_b.get(ib, (0.0, 0))[0]:
                best_of_b[ib] = (iou, ia)
        return {ib: ia for ib, (iou, ia) in best_of_b.items() if iou >= min_iou and best_of_a[ia][1] == ib}


def relabel(b: np.ndarray, lut: dict[int, int]) -> np.ndarray:
    """``b`` with each id in ``lut`` replaced by its value (uint32)."""
    if not lut:
        return b.astype(np.uint32)
    keys = np.array(sorted(lut), np.uint64)
    vals = np.array([lut[k] for k in sorted(lut)], np.uint32)
    pos = np.clip(np.searchsorted(keys, b), 0, len(keys) - 1)
    hit = (keys[pos] == b) & (b > 0)
    return np.where(hit, vals[pos], b).astype(np.uint32)


def link_stack(stack: np.ndarray, min_iou: float) -> tuple[np.ndarray, dict[int, int]]:
    """(the stack with objects linked along its first axis, {raw id: linked id}): ids must be unique over the stack
    (each plane's own ids shifted past the planes before). Memory: the stack, once more."""
    out = stack.astype(np.uint32, copy=True)
    mapping: dict[int, int] = {}
    for k in range(1, len(out)):
        overlaps = Overlaps()
        overlaps.add(out[k - 1], out[k])
        lut = overlaps.links(min_iou)
        out[k] = relabel(out[k], lut)
        mapping.update(lut)
    return out, mapping
