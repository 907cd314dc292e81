"""TIFF, BigTIFF and OME-TIFF through tifffile, never loading the whole file.

``series.aszarr()`` exposes the file's tiles or strips as a Zarr store, so a block read
touches only the tiles under it. Axes come from the OME-XML or ImageJ metadata when
the file has them. A plain TIFF with several pages names no axis: tifffile calls it
``Q``/``I`` (or ``S`` for extra samples that are not RGB), and unetkit refuses to guess
whether that is a z-stack, channels or time (the user passes ``--axes``).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UnetkitError

SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")


def read_tiff(path: Path, axes_override: str | None = None):
    """(dask array, axes, rgb, pixel_size, channel_names)."""
    import dask.array as da
    import tifffile
    import zarr
    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        axes = series.axes
        photometric = series.pages[0].photometric if series.pages else None
        # colour only when samples are interleaved (YXS): a planar 3 x Y x X "RGB" is what tifffile writes
        # for any 3-plane array, z-stacks included, so it says nothing
        rgb = axes.endswith("S") and photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
        pixel_size, names = _metadata(tf)
        store = series.aszarr()
    arr = zarr.open(store, mode="r")
    if not hasattr(arr, "shape"):  # a multi-resolution series opens as a group: level 0 is full resolution
        arr = arr["0"]
    data = da.from_zarr(arr)
    for a in [a for a in axes if a not in "TCZYX" and data.shape[axes.index(a)] == 1]:
        data, axes = data[(slice(None),) * axes.index(a) + (0,)], axes.replace(a, "")  # a length-1 axis says nothing
    if axes_override:
        if len(axes_override) != data.ndim:
            raise UnetkitError(f"{path}: --axes {axes_override} names {len(axes_override)} axes but the file has "
                               f"{data.ndim} ({series.axes}, shape {tuple(data.shape)})")
        return data, axes_override.upper(), "S" in axes_override.upper(), pixel_size, names
    if "S" in axes and not rgb:
        raise UnetkitError(f"{path}: {data.shape[axes.index('S')]} planes of unknown meaning (axes {axes}, shape "
                           f"{tuple(data.shape)}); pass --axes: ZYX for a z-stack, CYX for channels, TYX for "
                           "time, SYX for the colours of an RGB picture")
    unnamed = [a for a in axes if a not in "TCZYXS"]
    if unnamed:
        raise UnetkitError(f"{path}: {data.shape[axes.index(unnamed[0])]} planes of unknown meaning (axes {axes}, "
                           f"shape {tuple(data.shape)}); pass --axes, e.g. ZYX for a z-stack, CYX for channels, "
                           "TYX for a time series")
    return data, axes, rgb, pixel_size, names


def _metadata(tf) -> tuple[tuple[float, float] | None, list[str]]:
    """Pixel size (um) and channel names from OME-XML, or pixel size from ImageJ/resolution tags."""
    import tifffile
    if tf.is_ome and tf.ome_metadata:
        try:
            image = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]
            pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
            channels = pixels.get("Channel", [])
            channels = channels if isinstance(channels, list) else [channels]
            names = [str(c.get("Name", "")) for c in channels if isinstance(c, dict)]
            size = None
            if "PhysicalSizeX" in pixels:
                sx = _to_um(float(pixels["PhysicalSizeX"]), pixels.get("PhysicalSizeXUnit", "µm"))
                sy = _to_um(float(pixels.get("PhysicalSizeY", pixels["PhysicalSizeX"])),
                            pixels.get("PhysicalSizeYUnit", "µm"))
                size = (sy, sx)
            return size, [n for n in names if n] if any(names) else []
        except (KeyError, ValueError, TypeError):
            return None, []
    if tf.is_imagej and tf.imagej_metadata and tf.imagej_metadata.get("unit") in ("micron", "um", "µm", "\\u00B5m"):
        page = tf.pages[0]
        res = page.tags.get("XResolution")
        if res is not None and res.value[0]:
            x = res.value[1] / res.value[0]
            return (x, x), []
    return None, []


_UNITS = {"µm": 1.0, "um": 1.0, "micrometer": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3}


def _to_um(value: float, unit: str) -> float:
    return value * _UNITS.get(str(unit), 1.0)
