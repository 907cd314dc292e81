"""Resizing any window of an image as OpenCV resizes the whole image: block-wise prediction at
a working scale.

A model trained at a working scale (``plan.py``: PH2 lesions at 1/8) sees the image resized
by that scale; in memory that is one ``cv2.resize`` of the whole plane (``INTER_AREA`` to
shrink, ``INTER_LINEAR`` to enlarge and to map the probabilities back). A plane too large for
memory is never resized whole: each block computes only the resized pixels it needs, from
the native pixels under them. The weights are those OpenCV uses, written as one small matrix
per axis from the *global* pixel coordinates, so a resized pixel comes out the same whichever
block computes it (seams stay exact) and equal to the in-memory resize up to float rounding.

``axis_weights(dst, src_len, dst_len, kind)`` -> (lo, weights): ``weights @ src[lo:lo + n]``
gives the resized samples at destination indices ``dst``; ``resample`` applies two of them;
``resized_window`` builds a large window piece by piece, holding a bounded part of the native image.
"""
from __future__ import annotations

import numpy as np


def axis_weights(dst: np.ndarray, src_len: int, dst_len: int, kind: str) -> tuple[int, np.ndarray]:
    """(first source index, (len(dst), n) weights) of a 1D resize from ``src_len`` to ``dst_len``
    samples, at the destination indices ``dst`` (any order, repeats allowed).

    ``area``: destination pixel i averages the source interval [i f, (i + 1) f), f = src/dst,
    partial pixels by their covered fraction (OpenCV's INTER_AREA when shrinking);
    ``linear``: the source position (i + 0.5) f - 0.5, clamped to the first and last pixel
    (OpenCV's INTER_LINEAR)."""
    dst = np.asarray(dst, dtype=np.int64)
    f = src_len / dst_len
    if kind == "area":
        if f < 1:
            raise ValueError("area weights shrink; enlarge with linear")
        start, stop = dst * f, (dst + 1) * f
        lo = int(np.floor(start.min()))
        hi = min(int(np.ceil(stop.max())), src_len)
        edges = np.arange(lo, hi + 1, dtype=np.float64)
        # covered length of source pixel [e, e + 1) by [start, stop)
        w = np.clip(np.minimum(stop[:, None], edges[None, 1:]) - np.maximum(start[:, None], edges[None, :-1]), 0, None)
        return lo, w / f
    if kind != "linear":
        raise ValueError(f"unknown resize kind {kind!r}: area or linear")
    pos = (dst + 0.5) * f - 0.5
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    frac = np.where(left < 0, 0.0, frac)
    left = np.clip(left, 0, src_len - 1)
    frac = np.where(left >= src_len - 1, 0.0, frac)
    right = np.minimum(left + 1, src_len - 1)
    lo, hi = int(left.min()), int(right.max()) + 1
    w = np.zeros((len(dst), hi - lo))
    rows = np.arange(len(dst))
    np.add.at(w, (rows, left - lo), 1 - frac)
    np.add.at(w, (rows, right - lo), frac)
    return lo, w


def kind_for(src_len: int, dst_len: int) -> str:
    """What ``Predictor.probabilities`` uses: area to shrink, linear to enlarge."""
    return "area" if dst_len < src_len else "linear"


def resample(src: np.ndarray, rows: tuple[int, np.ndarray], cols: tuple[int, np.ndarray]) -> np.ndarray:
    """(len(rows), len(cols), C) float32 from ``src`` (h, w, C), which must start at the two
    weights' first indices and cover their width. Rows first, then columns (separable)."""
    (_, wr), (_, wc) = rows, cols
    src = np.asarray(src[: wr.shape[1], : wc.shape[1]], np.float32)
    if src.ndim == 2:
        src = src[..., None]
    tmp = np.tensordot(wr.astype(np.float32), src, axes=(1, 0))           # (rows, w, C)
    return np.einsum("ikc,lk->ilc", tmp, wc.astype(np.float32)).astype(np.float32)


def resized_window(read_native, rows: np.ndarray, cols: np.ndarray, src_shape, dst_shape, piece: int = 256):
    """The resized image at destination indices ``rows`` x ``cols``, computed ``piece`` x ``piece``
    destination pixels at a time from ``read_native(y0, y1, x0, x1)`` (model input, (h, w, C)), so
    at a small scale the native pixels held at once stay bounded (a 256 px piece at 1/8 reads about
    2048 x 2048 px) instead of the whole window's."""
    (h, w), (sh, sw) = src_shape, dst_shape
    out = None
    for i in range(0, len(rows), piece):
        r = rows[i:i + piece]
        r0, r1, wr = source_window(r, h, sh)
        for j in range(0, len(cols), piece):
            c = cols[j:j + piece]
            c0, c1, wc = source_window(c, w, sw)
            part = resample(read_native(r0, r1, c0, c1), (r0, wr), (c0, wc))
            if out is None:
                out = np.empty((len(rows), len(cols), part.shape[-1]), np.float32)
            out[i:i + len(r), j:j + len(c)] = part
    return out


def source_window(dst: np.ndarray, src_len: int, dst_len: int, kind: str | None = None) -> tuple[int, int, np.ndarray]:
    """(lo, hi, weights): the source range [lo, hi) a set of destination indices needs, and the weights."""
    kind = kind or kind_for(src_len, dst_len)
    lo, w = axis_weights(dst, src_len, dst_len, kind)
    return lo, lo + w.shape[1], w
