"""PNG, JPEG, BMP and NPY: small formats read whole.

These codecs have no random access (OpenCV decodes a whole PNG), so the reader holds
the image in memory; that is bounded by what such files can hold in practice. NPY is
memory-mapped instead, so a large .npy costs only the blocks that are read.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UnetkitError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy")


def read_planar(path: Path) -> tuple[np.ndarray, str, bool]:
    """(array, axes, rgb) for a PNG/JPEG/BMP/NPY file."""
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
        return arr, _npy_axes(path, arr), arr.ndim == 3 and arr.shape[2] in (3, 4)
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode it")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return arr, "YXS", True
    return arr, "YX", False


def _npy_axes(path: Path, arr: np.ndarray) -> str:
    """An NPY file names no axes: 2D is YX, (Y, X, 3|4) is RGB(A), (3|4, Y, X) channel-first RGB;
    anything else needs the user to say (``--axes``)."""
    if arr.ndim == 2:
        return "YX"
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return "YXS"
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] > 4:
        return "SYX"
    raise UnetkitError(f"{path}: array of shape {arr.shape} does not say which axis is what; "
                       "pass --axes (e.g. ZYX, CYX or TYX)")
