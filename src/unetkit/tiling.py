"""The U-Net paper's overlap-tile strategy for images of any size, over any region.

The image is mirror-padded by ``overlap`` pixels (the paper's extrapolation by
mirroring), cut into overlapping tiles, each tile predicted, and the tiles blended
with a weight that ramps up from the tile edges, so seams carry no edge artefacts
and nothing is ever resized.

``TilePlan`` fixes the tile grid of a whole image once. ``predict_region`` then
predicts any rectangle of it from the tiles that touch it, reading only the pixels
those tiles cover; a whole image is one region (``predict_tiled``), a slide is many
blocks (``unetkit.blocks``). Because a tile's blending weight is exactly 0 on its outer
``overlap / 2`` pixels, a tile that does not reach a region with non-zero weight adds
nothing to it, so a block-wise result equals the whole-image result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .data.sampling import tile_starts


def ramp_window(size: int, overlap: int) -> np.ndarray:
    """1D blending weight of a tile: 0 over the outer ``overlap/2`` pixels (whose context
    is cut off by the tile edge), rising linearly to 1 at ``overlap`` pixels from the edge.

    Neighbouring tiles overlap by ``2 * overlap``, so every pixel lies at least
    ``overlap`` inside some tile, where that tile's weight is 1.
    """
    i = np.arange(size, dtype=np.float32)
    edge = np.minimum(i, size - 1 - i)
    half = overlap / 2.0
    return np.clip((edge - half + 1) / max(half, 1), 0.0, 1.0).astype(np.float32)


def tile_grid(shape, tile: int, overlap: int) -> list[tuple[int, int]]:
    stride = max(tile - overlap, 1)
    return [(y, x) for y in tile_starts(shape[0], tile, stride) for x in tile_starts(shape[1], tile, stride)]


def _ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, without going through floats."""
    return -(-a // b)


def fit_side(tile: int, length: int, multiple: int, margin: int = 0) -> int:
    """Tile side along one axis of ``length`` padded px: no larger than needed.

    With at most ``tile`` px per tile, count the tiles the axis needs, then shrink the tile so
    those tiles just cover it (less wasted overlap), keeping it a multiple of the network's size
    divisor."""
    live = length - 2 * margin
    n = max(_ceil_div(live, max(tile - 2 * margin, multiple)), 1)
    side = _ceil_div(_ceil_div(live, n) + 2 * margin, multiple) * multiple
    return max(min(side, _ceil_div(tile, multiple) * multiple), multiple)


def fit_tile(tile: int, shape, multiple: int, margin: int = 0) -> tuple[int, int]:
    """(rows, columns) of the tiles for a padded image of ``shape``: each axis fitted on its own
    (``fit_side``), so a wide image gets wide tiles instead of squares sized by its longer side
    (a 520 x 696 image: 4 tiles of 400 x 480 px, not 4 of 480 x 480)."""
    return fit_side(tile, int(shape[0]), multiple, margin), fit_side(tile, int(shape[1]), multiple, margin)


def reflect(index: np.ndarray, length: int) -> np.ndarray:
    """``np.pad(mode="symmetric")`` as an index map: positions outside [0, length) mirrored in."""
    period = 2 * length
    i = np.mod(index, period)
    return np.where(i >= length, period - 1 - i, i)


@dataclass(frozen=True)
class TilePlan:
    """The tile grid of a whole (h, w) image: margin ``m``, tile size ``tile`` (rows, columns),
    the padded size (mirror margin, then mirrored up to one tile for small images) and tile starts."""
    height: int
    width: int
    margin: int
    tile: tuple[int, int]
    padded: tuple[int, int]
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    @classmethod
    def make(cls, shape, tile: int = 512, overlap: int = 64, multiple: int = 16) -> "TilePlan":
        h, w = int(shape[0]), int(shape[1])
        m = overlap
        first = (h + 2 * m, w + 2 * m)
        th, tw = fit_tile(tile, first, multiple, m)
        padded = (max(first[0], th), max(first[1], tw))
        starts = [tuple(tile_starts(n, t, max(t - 2 * m, 1))) for n, t in zip(padded, (th, tw))]
        return cls(h, w, m, (th, tw), padded, *starts)

    def window(self) -> np.ndarray:
        return np.outer(ramp_window(self.tile[0], self.margin), ramp_window(self.tile[1], self.margin))[..., None]

    def live(self, axis: int) -> tuple[int, int]:
        """[first, last] offsets along ``axis`` inside a tile where its weight is non-zero."""
        nz = np.nonzero(ramp_window(self.tile[axis], self.margin))[0]
        return int(nz[0]), int(nz[-1])

    def source_index(self, padded_index: np.ndarray, axis: int) -> np.ndarray:
        """Image coordinates of padded coordinates: the same two mirrorings ``np.pad`` does."""
        length = (self.height, self.width)[axis]
        first = length + 2 * self.margin
        return reflect(reflect(padded_index, first) - self.margin, length)

    def tiles_for(self, y0: int, y1: int, x0: int, x1: int) -> list[tuple[int, int]]:
        """Tiles (padded starts) whose non-zero weight reaches image region [y0, y1) x [x0, x1),
        in the global order (so every pixel sums the same tiles in the same order)."""
        (ya, yb), (xa, xb) = self.live(0), self.live(1)
        m = self.margin
        ys = [y for y in self.ys if y + ya < y1 + m and y + yb >= y0 + m]
        xs = [x for x in self.xs if x + xa < x1 + m and x + xb >= x0 + m]
        return [(y, x) for y in ys for x in xs]


def predict_region(predict_batch: Callable[[np.ndarray], np.ndarray], read: Callable, plan: TilePlan,
                   region: tuple[int, int, int, int] | None = None, *, batch_size: int = 2, tta: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Blended probabilities (y1 - y0, x1 - x0, K) of an image region.

    ``read(rows, cols)`` returns the model input (len(rows), len(cols), C) float32 at the
    given image coordinates (sorted, possibly repeated by the mirroring); only the
    bounding box of the tiles that reach the region is read."""
    y0, y1, x0, x1 = region or (0, plan.height, 0, plan.width)
    (th, tw), m = plan.tile, plan.margin
    tiles = plan.tiles_for(y0, y1, x0, x1)
    py0, px0 = min(y for y, _ in tiles), min(x for _, x in tiles)
    py1, px1 = max(y for y, _ in tiles) + th, max(x for _, x in tiles) + tw
    source = read(plan.source_index(np.arange(py0, py1), 0), plan.source_index(np.arange(px0, px1), 1))
    window = plan.window()
    acc = None
    weight = np.zeros((y1 - y0, x1 - x0, 1), np.float32)
    flips = [(False, False), (True, False), (False, True), (True, True)] if tta else [(False, False)]
    for start in range(0, len(tiles), batch_size):
        group = tiles[start:start + batch_size]
        batch = np.stack([source[y - py0:y - py0 + th, x - px0:x - px0 + tw] for y, x in group]).astype(np.float32)
        probs = None
        for fy, fx in flips:
            view = batch[:, ::-1] if fy else batch
            view = view[:, :, ::-1] if fx else view
            out = np.asarray(predict_batch(np.ascontiguousarray(view)), np.float32)
            out = out[:, :, ::-1] if fx else out
            out = out[:, ::-1] if fy else out
            probs = out.copy() if probs is None else probs + out
        probs /= len(flips)
        if acc is None:
            acc = np.zeros((y1 - y0, x1 - x0, probs.shape[-1]), np.float32)
        for (y, x), p in zip(group, probs):
            # the part of this tile inside the region, in region coordinates
            ry0, ry1 = max(y - m, y0), min(y - m + th, y1)
            rx0, rx1 = max(x - m, x0), min(x - m + tw, x1)
            if ry0 >= ry1 or rx0 >= rx1:
                continue
            ty, tx = ry0 - (y - m), rx0 - (x - m)
            win = window[ty:ty + ry1 - ry0, tx:tx + rx1 - rx0]
            acc[ry0 - y0:ry1 - y0, rx0 - x0:rx1 - x0] += p[ty:ty + ry1 - ry0, tx:tx + rx1 - rx0] * win
            weight[ry0 - y0:ry1 - y0, rx0 - x0:rx1 - x0] += win
        if progress:
            progress(min(start + batch_size, len(tiles)), len(tiles))
    return acc / weight


def predict_tiled(predict_batch: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *, tile: int = 512,
                  overlap: int = 64, multiple: int = 16, batch_size: int = 2, tta: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Probabilities (H, W, K) for ``image`` (H, W, C) held in memory.

    ``predict_batch`` maps (B, th, tw, C) float32 to (B, th, tw, K). ``multiple`` is the
    network's size divisor 2^depth; ``tta`` averages the four flips."""
    plan = TilePlan.make(image.shape, tile, overlap, multiple)
    return predict_region(predict_batch, lambda rows, cols: image[rows][:, cols], plan,
                          batch_size=batch_size, tta=tta, progress=progress)
