"""A folder of images as one image: the frames of a time lapse or the slices of a z-stack saved one file each, as
the Cell Tracking Challenge (``t000.tif``, ...), Micro-Manager, Incucyte and Fiji's "Image Sequence" save them
(``--sequence t|z``). Files are taken in natural name order (``t2`` before ``t10``); each must have the same shape,
type and axes as the first, and must not hold the sequence's axis itself.

The sequence travels as an ``axes`` override, ``"T:"`` or ``"Z:"``, optionally followed by the files' own axes
(``"T:YX"``), so every place that reopens an input by its path and axes (block tasks, reruns) opens the same image.
Nothing is read at opening but the first file's header (a PNG or JPEG is decoded, its codec has no lazy read); each
frame is read when a block of it is asked for. Memory: one file at a time per block read.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UnetkitError
from .image import AXES, LazyImage

SEP = ":"
SEQUENCES = ("t", "z")   # --sequence: a file a frame, a file a z-slice


def split_axes(axes: str | None) -> tuple[str | None, str | None]:
    """(the sequence's axis, T or Z, or None; the files' own axes or None) of an ``axes`` override."""
    if not axes or SEP not in axes:
        return None, axes
    axis, inner = axes.split(SEP, 1)
    if axis.lower() not in SEQUENCES:
        raise UnetkitError(f"--sequence {axis.lower()}: choose t (one frame a file) or z (one slice a file)")
    return axis.upper(), inner or None


def sequence_axes(sequence: str | None, axes: str | None) -> str | None:
    """The ``axes`` override a ``--sequence`` (t or z) and ``--axes`` (the files' own) make together."""
    return f"{sequence.upper()}{SEP}{axes or ''}" if sequence else axes


def is_sequence(axes: str | None) -> bool:
    """Whether an ``axes`` override opens folders of images as sequences."""
    return bool(axes) and SEP in axes


def natural_key(path: Path) -> list:
    """Sort key that orders the numbers in names by value: t2 before t10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def open_sequence(folder: Path, axis: str, inner: str | None, open_one: Callable[[Path, str | None], LazyImage],
                  is_image: Callable[[Path], bool]) -> LazyImage:
    """The images in ``folder`` stacked along ``axis`` (T or Z) into one ``LazyImage``; ``open_one(path, axes)``
    opens one file, ``is_image`` says which files count."""
    import dask
    import dask.array as da
    if not folder.is_dir():
        raise UnetkitError(f"{folder}: --sequence takes folders of images, one {_unit(axis)} a file; pass the "
                           "folder, or leave out --sequence for a file")
    files = sorted((f for f in folder.iterdir() if is_image(f)), key=natural_key)
    if not files:
        inner_folders = sorted(f.name for f in folder.iterdir() if f.is_dir())
        if inner_folders:   # a data set's folder, its movies one folder each (the Challenge's 01/, 02/)
            raise UnetkitError(f"{folder}: holds folders ({', '.join(inner_folders[:3])}...), not images; pass the "
                               f"folders of images, each one {'movie' if axis == 'T' else 'z-stack'}")
        raise UnetkitError(f"{folder}: no image files in this folder; check the path")
    first = open_one(files[0], inner)
    if axis in first.axes:
        raise UnetkitError(f"{files[0]}: already holds {first.shape[axis]} {_unit(axis)}s (axes {first.axes}); a "
                           f"sequence of such files along {axis} is not supported: count the files one by one")
    where = AXES.index(axis)
    shape = first.data.shape
    parts = [first.data]
    for f in files[1:]:
        frame = dask.delayed(_read_like)(f, inner, first, open_one)
        parts.append(da.from_delayed(frame, shape=shape, dtype=first.dtype))
    data = da.concatenate(parts, axis=where) if len(parts) > 1 else first.data
    present = "".join(a for a in AXES if a in first.axes or (a == axis and len(files) > 1))
    return LazyImage(folder, data, present or first.axes, first.rgb, first.pixel_size, first.channel_names,
                     f"sequence of {first.reader}", None)


def _read_like(path: Path, inner: str | None, first: LazyImage, open_one) -> np.ndarray:
    """One file of the sequence, read whole; refused, naming it, unless it matches the first file."""
    from . import pixels
    img = open_one(path, inner)
    if img.data.shape != first.data.shape or img.dtype != first.dtype or img.axes != first.axes:
        raise UnetkitError(f"{path}: {img.describe()} in a sequence of {first.describe()} (as {first.path.name}); "
                           "every file of a sequence must match the first")
    return pixels(path, img.data)


def _unit(axis: str) -> str:
    return "frame" if axis == "T" else "slice"
