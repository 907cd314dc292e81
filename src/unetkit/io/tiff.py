"""TIFF, BigTIFF and OME-TIFF through tifffile, never loading the whole file.

``series.aszarr()`` exposes the file's tiles or strips as a Zarr store, so a block read
touches only the tiles under it. Axes come from the OME-XML or ImageJ metadata when
the file has them. A plain TIFF with several pages names no axis: tifffile calls it
``Q``/``I`` (or ``S`` for extra samples that are not RGB), and unetkit refuses to guess
whether that is a z-stack, channels or time (the user passes ``--axes``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UnetkitError
from .units import micrometres, seconds

SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")


def read_tiff(path: Path, axes_override: str | None = None):
    """(dask array, axes, rgb, pixel_size, channel_names, frame_interval)."""
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
        pixel_size, names, interval = _metadata(tf)
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
        return data, axes_override.upper(), "S" in axes_override.upper(), pixel_size, names, interval
    if "S" in axes and not rgb:
        raise UnetkitError(f"{path}: {data.shape[axes.index('S')]} planes of unknown meaning (axes {axes}, shape "
                           f"{tuple(data.shape)}); pass --axes: ZYX for a z-stack, CYX for channels, TYX for "
                           "time, SYX for the colours of an RGB picture")
    unnamed = [a for a in axes if a not in "TCZYXS"]
    if unnamed:
        raise UnetkitError(f"{path}: {data.shape[axes.index(unnamed[0])]} planes of unknown meaning (axes {axes}, "
                           f"shape {tuple(data.shape)}); pass --axes, e.g. ZYX for a z-stack, CYX for channels, "
                           "TYX for a time series")
    return data, axes, rgb, pixel_size, names, interval


def _metadata(tf) -> tuple[tuple[float, float] | None, list[str], float | None]:
    """(pixel size (y, x) in um, channel names, seconds between time points) from OME-XML, or the pixel size and
    frame interval ImageJ records; None where the file does not say (or says in a unit ``units`` does not know)."""
    import tifffile
    if tf.is_ome and tf.ome_metadata:
        try:
            image = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]
            pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
        except (KeyError, ValueError, TypeError):
            return None, [], None
        channels = pixels.get("Channel", [])
        channels = channels if isinstance(channels, list) else [channels]
        names = [str(c.get("Name", "")) for c in channels if isinstance(c, dict)]
        size = None
        if "PhysicalSizeX" in pixels:
            sx = micrometres(pixels["PhysicalSizeX"], pixels.get("PhysicalSizeXUnit", "µm"))
            sy = micrometres(pixels.get("PhysicalSizeY", pixels["PhysicalSizeX"]),
                             pixels.get("PhysicalSizeYUnit", "µm"))
            size = (sy, sx) if sx and sy else None
        return size, [n for n in names if n] if any(names) else [], _ome_interval(pixels)
    if tf.is_imagej and tf.imagej_metadata:
        meta = tf.imagej_metadata
        interval = seconds(meta.get("finterval"), meta.get("tunit", "sec"))
        res = tf.pages[0].tags.get("XResolution")
        if res is not None and res.value[0] and micrometres(1.0, meta.get("unit")):
            x = micrometres(res.value[1] / res.value[0], meta.get("unit"))
            return (x, x), [], interval
        return None, [], interval
    return None, [], None


def _ome_interval(pixels: dict) -> float | None:
    """Seconds between time points: ``TimeIncrement``, or else the median step of the planes' ``DeltaT`` (what
    acquisition software such as Micro-Manager records) over the first channel and slice."""
    if "TimeIncrement" in pixels:
        return seconds(pixels["TimeIncrement"], pixels.get("TimeIncrementUnit", "s"))
    planes = pixels.get("Plane", [])
    planes = planes if isinstance(planes, list) else [planes]
    times = {}
    for p in planes:
        try:
            if int(p.get("TheC", 0)) == 0 and int(p.get("TheZ", 0)) == 0 and "DeltaT" in p:
                scale = seconds(1.0, p.get("DeltaTUnit", "s"))   # the unit alone: the first plane's DeltaT is 0
                if scale is not None:
                    times[int(p.get("TheT", 0))] = float(p["DeltaT"]) * scale
        except (AttributeError, TypeError, ValueError):   # a plane entry that is not what the schema says
            return None
    if len(times) < 2:
        return None
    steps = np.diff([times[k] for k in sorted(times)])
    return float(np.median(steps)) if np.median(steps) > 0 else None
