"""``LazyImage``: an image file opened without reading its pixels, with named axes.

Every reader returns one. Pixels stay in a Dask array over the file's own chunks
(TIFF tiles or strips, Zarr chunks), so a 40k x 40k slide costs nothing until a
block of it is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AXES = "TCZYX"  # the canonical order (OME-NGFF's t, c, z, y, x)


@dataclass
class LazyImage:
    """A 5D (T, C, Z, Y, X) lazy array plus what the file says about it.

    ``axes`` names the axes the file really has (e.g. "ZYX", "CYX", "YX"); the others are
    length-1 axes added for uniform indexing. ``rgb`` is True when C holds the colour
    samples of an RGB(A) picture (PNG, JPEG, RGB TIFF), not microscope channels.
    ``pixel_size`` is (y, x) in micrometres and ``frame_interval`` the seconds between time points when the file
    records them.
    """
    path: Path
    data: object                      # dask.array of shape (T, C, Z, Y, X)
    axes: str
    rgb: bool = False
    pixel_size: tuple[float, float] | None = None
    channel_names: list[str] = field(default_factory=list)
    reader: str = ""
    frame_interval: float | None = None

    @property
    def shape(self) -> dict[str, int]:
        return dict(zip(AXES, self.data.shape))

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def units(self, pixel_size: float | None = None, frame_interval: float | None = None
              ) -> tuple[float | None, float | None]:
        """(um per pixel, seconds between frames): the ones given, else the file's (the pixel size as the geometric
        mean of y and x), else None."""
        size = pixel_size if pixel_size is not None else (
            float((self.pixel_size[0] * self.pixel_size[1]) ** 0.5) if self.pixel_size else None)
        return size, frame_interval if frame_interval is not None else self.frame_interval

    def describe(self) -> str:
        dims = " x ".join(f"{self.shape[a]} {a}" for a in AXES if a in self.axes)
        return f"{dims} ({self.dtype})"


def canonical(data, axes: str):
    """Reorder and pad a dask array with named ``axes`` (any of T, C, Z, Y, X, S) to TCZYX.

    ``S`` (colour samples) becomes C. Axes tifffile cannot name (Q, I) must have been
    resolved by the reader before this point."""
    import dask.array as da
    axes = axes.replace("S", "C")
    if len(set(axes)) != len(axes):
        raise ValueError(f"duplicate axes in {axes!r}")
    unknown = set(axes) - set(AXES + "S")
    if unknown:
        raise ValueError(f"unknown axes {''.join(sorted(unknown))} in {axes!r}")
    order = [axes.index(a) for a in AXES if a in axes]
    data = da.transpose(data, order) if order != list(range(len(order))) else data
    present = "".join(a for a in AXES if a in axes)
    index = tuple(slice(None) if a in present else None for a in AXES)
    return data[index], present
