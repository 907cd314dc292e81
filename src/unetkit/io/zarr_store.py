"""Zarr arrays and OME-Zarr (NGFF) images.

An OME-Zarr image is read through ``ome-zarr``'s reader: level 0 of the multiscale
pyramid (full resolution), its axes, the scale of its coordinate transformation
(pixel size, converted to um; the time axis's step, converted to seconds) and the omero
channel labels. A plain Zarr array names
no axes: 2D is YX, anything else needs ``--axes``.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UnetkitError
from .units import micrometres, seconds

SUFFIXES = (".zarr",)


def is_zarr(path: Path) -> bool:
    return path.is_dir() and (path.suffix.lower() == ".zarr" or any((path / n).is_file() for n in
                                                                     (".zarray", ".zgroup", "zarr.json")))


def read_zarr(path: Path, axes_override: str | None = None):
    """(dask array, axes, rgb, pixel_size, channel_names, frame_interval)."""
    import dask.array as da
    import zarr
    node = zarr.open(str(path), mode="r")
    if hasattr(node, "shape"):  # a bare array
        data = da.from_zarr(node)
        if axes_override:
            return _checked(path, data, axes_override), axes_override.upper(), False, None, [], None
        if data.ndim == 2:
            return data, "YX", False, None, [], None
        raise UnetkitError(f"{path}: a Zarr array of shape {tuple(data.shape)} names no axes; pass --axes "
                           "(e.g. ZYX or CYX), or write it as OME-Zarr")
    attrs = dict(node.attrs)
    if "multiscales" not in attrs and "multiscales" not in attrs.get("ome", {}):
        raise UnetkitError(f"{path}: a Zarr group without OME-NGFF 'multiscales' metadata; pass the path of "
                           "an image array inside it, or an OME-Zarr image")
    return _read_ome(path, axes_override)


def _read_ome(path: Path, axes_override: str | None):
    import logging

    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)  # it logs format-version notes on every open
    location = parse_url(str(path), mode="r")
    if location is None:
        raise UnetkitError(f"{path}: not readable as OME-Zarr")
    nodes = [n for n in Reader(location)() if any(isinstance(s, Multiscales) for s in n.specs)]
    if not nodes:
        raise UnetkitError(f"{path}: no multiscale image in this OME-Zarr")
    node = nodes[0]
    data = node.data[0]
    meta = node.metadata
    axes_meta = meta.get("axes") or []
    names = [a["name"] if isinstance(a, dict) else str(a) for a in axes_meta]
    axes = axes_override.upper() if axes_override else "".join(n.upper() for n in names)
    _checked(path, data, axes)
    pixel_size, interval = None, None
    transforms = meta.get("coordinateTransformations") or []
    scale = next((t["scale"] for t in transforms[0] if t.get("type") == "scale"), None) if transforms else None
    if scale and len(scale) == len(names):
        units = [a.get("unit") if isinstance(a, dict) else None for a in axes_meta]
        if "y" in names and "x" in names:   # NGFF's unit is optional: a scale without one is read as um, as written
            sy, sx = (micrometres(scale[names.index(a)], units[names.index(a)] or "micrometer") for a in "yx")
            pixel_size = (sy, sx) if sy and sx else None
        if "t" in names and units[names.index("t")]:   # a time step without its unit is not read as seconds
            interval = seconds(scale[names.index("t")], units[names.index("t")])
    channels = [str(c) for c in (meta.get("channel_names") or []) if c]
    return data, axes, False, pixel_size, channels, interval


def _checked(path, data, axes):
    if len(axes) != data.ndim or set(axes) - set("TCZYX"):
        raise UnetkitError(f"{path}: axes {axes!r} do not fit an array of shape {tuple(data.shape)}; "
                           "name one of T, C, Z, Y, X per axis")
    return data
