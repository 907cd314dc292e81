"""File formats behind one interface.

``open_image(path)`` picks a reader by suffix or folder layout and returns a
``LazyImage``: a Dask array with named axes (T, C, Z, Y, X), the pixel size in um and
the channel names and the seconds between time points when the file has them. Nothing is read until a block is asked for
(except PNG/JPEG/BMP, whose codecs decode whole images). ``read_array`` keeps the old
contract for training pairs and masks: one 2D gray or RGB(A) image as a NumPy array.

Readers (name -> suffixes; add one with ``register_reader``):
  planar  .png .jpg .jpeg .bmp .npy
  tiff    .tif .tiff .btf .tf8 (TIFF, BigTIFF, OME-TIFF, ImageJ hyperstacks)
  zarr    .zarr folders (OME-Zarr: level 0 of the pyramid; plain Zarr arrays)
  bioio   vendor formats (.czi .nd2 .lif) when the ``unetkit[vendor]`` extra is installed
A folder of such images, one frame or z-slice a file, opens as one image with ``axes`` "T:" or "Z:"
(``io.sequence``, ``--sequence t|z``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UnetkitError
from .image import AXES, LazyImage, canonical
from .planar import SUFFIXES as PLANAR_SUFFIXES
from .planar import read_planar
from .sequence import is_sequence, open_sequence, split_axes
from .tiff import SUFFIXES as TIFF_SUFFIXES
from .tiff import read_tiff
from .write import atomic_target, remove_output, write_image, write_text
from .zarr_store import is_zarr, read_zarr

VENDOR_SUFFIXES = (".czi", ".nd2", ".lif")
_READERS: dict[str, tuple[tuple[str, ...], Callable]] = {}


def register_reader(name: str, suffixes: tuple[str, ...], reader: Callable) -> None:
    """``reader(path, axes_override) -> (dask array, axes, rgb, pixel_size um (y, x) | None, channel names,
    frame interval s | None)``."""
    _READERS[name] = (tuple(s.lower() for s in suffixes), reader)


def _planar(path, axes_override=None):
    import dask.array as da
    arr, axes, rgb = read_planar(path)
    if axes_override:
        if len(axes_override) != arr.ndim:
            raise UnetkitError(f"{path}: --axes {axes_override} names {len(axes_override)} axes but the array "
                               f"has {arr.ndim} (shape {arr.shape})")
        axes, rgb = axes_override.upper(), False
    return da.from_array(arr, chunks=arr.shape if arr.size < 2 ** 26 else "auto"), axes, rgb, None, [], None


def _vendor(path, axes_override=None):
    """A vendor file through bioio: its own axes (of TCZYX, or TCZYXS for colour: an RGB slide scan is one picture
    of three samples, as an RGB TIFF is, not three channels; the axes it holds one of left out), pixel size,
    channel names and, where its OME metadata gives one with its unit, the frame interval."""
    try:
        from bioio import BioImage
    except ImportError:
        raise UnetkitError(f"{path}: {path.suffix} files need the vendor readers: pip install 'unetkit[vendor]' "
                           "(bioio and its plugins), or convert the file to OME-TIFF") from None
    img = BioImage(path)
    data, axes = img.dask_data, img.dims.order
    if axes_override:
        raise UnetkitError(f"{path}: the file names its axes ({axes}, read by bioio); leave out --axes, which is "
                           "for files that name none")
    names = [str(name) for name in img.channel_names or []]
    rgb = "S" in axes
    if rgb:
        if data.shape[axes.index("C")] != 1:
            raise UnetkitError(f"{path}: {data.shape[axes.index('C')]} channels of "
                               f"{data.shape[axes.index('S')]} colour samples each; export one channel to OME-TIFF")
        data, axes, names = data[:, 0], axes.replace("C", ""), []   # the samples are the picture's colours
    for a in "TCZ":   # bioio names all five axes; a file has those it holds more than one of (a 2-D scan is YX)
        if a in axes and data.shape[axes.index(a)] == 1:
            data, axes = data[tuple(0 if b == a else slice(None) for b in axes)], axes.replace(a, "")
    size = img.physical_pixel_sizes
    pixel_size = (float(size.Y), float(size.X)) if size.X and size.Y else None
    return data, axes, rgb, pixel_size, names, _vendor_interval(img, axes)


def _vendor_interval(img, axes: str) -> float | None:
    """Seconds between time points: bioio's ``time_interval`` where the plugin gives it as a ``timedelta`` (a bare
    number names no unit and is not used), else the OME metadata the plugin builds; None for a file of one frame or
    where neither says."""
    import warnings
    from datetime import timedelta

    from .units import seconds
    if "T" not in axes:
        return None
    with warnings.catch_warnings():   # plugins warn about metadata fields of no use here (a CZI's empty enums)
        warnings.simplefilter("ignore")
        try:
            interval = img.time_interval
            if isinstance(interval, timedelta) and interval.total_seconds() > 0:
                return interval.total_seconds()
            pixels = img.ome_metadata.images[img.current_scene_index].pixels
        except Exception:   # noqa: BLE001 - plugins raise their own errors for metadata they cannot build
            return None
    return seconds(pixels.time_increment, pixels.time_increment_unit) if pixels.time_increment else None


register_reader("planar", PLANAR_SUFFIXES, _planar)
register_reader("tiff", TIFF_SUFFIXES, read_tiff)
register_reader("zarr", (".zarr",), read_zarr)
register_reader("bioio", VENDOR_SUFFIXES, _vendor)

IMAGE_SUFFIXES = tuple(s for suffixes, _ in _READERS.values() for s in suffixes)


def reader_for(path: Path) -> str | None:
    if is_zarr(path):
        return "zarr"
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    return next((name for name, (sfx, _) in _READERS.items() if suffix in sfx and name != "zarr"), None)


def is_image_file(path: Path) -> bool:
    """A file (or Zarr folder) that some reader takes; hidden files never count."""
    return not path.name.startswith(".") and reader_for(path) is not None


def open_image(path: str | os.PathLike, axes: str | None = None) -> LazyImage:
    """Open ``path`` lazily. ``axes`` (e.g. "ZYX") overrides what the file says or cannot say; "T:" or "Z:" (with
    the files' own axes after it, if they need naming) opens a folder of images as one image (``io.sequence``)."""
    path = Path(path)
    if not path.exists():
        raise UnetkitError(f"{path}: file not found; check the path")
    along, axes = split_axes(axes)
    if along:
        return open_sequence(path, along, axes, open_image, is_image_file)
    name = reader_for(path)
    if name is None:
        raise UnetkitError(f"{path}: not a supported image ({', '.join(IMAGE_SUFFIXES)}, or a .zarr folder)")
    try:
        data, found_axes, rgb, pixel_size, names, interval = _READERS[name][1](path, axes)
        data, present = canonical(data, found_axes)
    except UnetkitError:
        raise
    except Exception as exc:  # corrupt, truncated or not an image at all
        raise UnetkitError(f"{path}: cannot read image ({str(exc).splitlines()[0][:200]}); "
                           "replace or remove the file") from None
    if 0 in data.shape:
        raise UnetkitError(f"{path}: the image is empty (shape {tuple(data.shape)})")
    return LazyImage(path, data, present, rgb, pixel_size, names, name, interval)


def pixels(path, lazy) -> np.ndarray:
    """The pixels of ``lazy`` (a Dask view of the file at ``path``) read into memory. Readers decode lazily, so a
    file whose header is sound but whose data are cut short or damaged fails here, not when opened: say which file
    (a MemoryError stays what it is)."""
    try:
        return np.asarray(lazy.compute(scheduler="synchronous"))
    except MemoryError:
        raise
    except Exception as exc:
        raise UnetkitError(f"{path}: cannot read image ({str(exc).splitlines()[0][:200]}); the file is damaged or "
                           "cut short: replace or remove it") from None


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read one 2D image into its native array: (H, W) or (H, W, C) RGB(A), original dtype.

    For training pairs, masks and label images, which must be single 2D planes."""
    img = open_image(path)
    extra = [a for a in "TZ" if a in img.axes] + (["C"] if "C" in img.axes and not img.rgb else [])
    if extra:
        raise UnetkitError(f"{path}: a {img.describe()} image where one 2D image is expected; "
                           "save one plane per file")
    arr = np.moveaxis(pixels(path, img.data[0, :, 0]), 0, -1)
    if arr.shape[2] == 1:
        arr = arr[..., 0]
    elif arr.shape[2] not in (3, 4):
        raise UnetkitError(f"{path}: unsupported array shape {arr.shape}; expected a 2D gray, RGB or RGBA image")
    return arr


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """One 2D mask or label image, as ``read_array`` reads it, except a palette PNG: its pixels are indices (the
    classes or objects; the palette only colours them for display), as annotation tools save masks, so the
    indices are returned, not the colours the palette paints them."""
    path = Path(path)
    if path.suffix.lower() == ".png" and path.is_file():
        from PIL import Image
        try:
            with Image.open(path) as im:   # reads the header only, unless it is a palette image
                if im.mode == "P":
                    return np.asarray(im)
        except (OSError, ValueError, Image.DecompressionBombError):
            pass  # not a PNG PIL reads, or too large for it: read_array reads it or says what is wrong
    return read_array(path)


__all__ = ["AXES", "IMAGE_SUFFIXES", "LazyImage", "atomic_target", "is_image_file", "is_sequence", "open_image",
           "pixels", "read_array", "read_mask", "register_reader", "remove_output", "write_image", "write_text"]
