"""Read and write images of every supported format, and normalise intensities.

Images come back as float32 (H, W, C) arrays; masks as integer (H, W) arrays.
Writes go to a temporary name in the target folder and are renamed into place, so
a crash never leaves a half-written file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import tifffile

from ..errors import UnetkitError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".npy")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read a file into its native array: (H, W) or (H, W, C), original dtype, RGB order."""
    path = Path(path)
    if not path.exists():
        raise UnetkitError(f"{path}: file not found; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            arr = tifffile.imread(path)
        else:
            arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if arr is None:
                raise ValueError("OpenCV could not decode it")
            if arr.ndim == 3:
                code = cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB
                arr = cv2.cvtColor(arr, code)
    except UnetkitError:
        raise
    except Exception as exc:  # corrupt, truncated or not an image at all
        raise UnetkitError(f"{path}: cannot read image ({exc}); replace or remove the file") from None
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] > 4:
        arr = np.moveaxis(arr, 0, -1)  # channel-first TIFF/NPY
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise UnetkitError(f"{path}: unsupported array shape {arr.shape}; expected a 2D gray, RGB or RGBA image")
    return arr


def is_color(arr: np.ndarray) -> bool:
    """True when an image has distinct colour channels (R=G=B images count as gray)."""
    if arr.ndim == 2:
        return False
    rgb = arr[..., :3]
    return not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """Convert gray/RGB/RGBA to exactly ``channels`` channels (1 or 3), as (H, W, C)."""
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]  # alpha carries no image content here
    if channels == 1:
        if arr.ndim == 3:
            arr = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return arr[..., None]
    if channels == 3:
        return np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def normalize(img: np.ndarray, mode: str = "percentile", low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Map intensities to roughly [0, 1] as float32.

    ``percentile`` (default): per image and channel-jointly, (x - p_low) / (p_high - p_low),
    robust to 8/12/16-bit ranges and to a few hot pixels (as Cellpose and StarDist do).
    ``scale``: divide by the dtype's maximum (the seeds' /255).
    ``none``: cast only.
    """
    dtype = img.dtype
    x = img.astype(np.float32)
    if mode == "percentile":
        lo, hi = np.percentile(x, [low, high])
        if hi - lo < 1e-6:
            return np.zeros_like(x) if hi == 0 else np.clip(x / np.float32(max(hi, 1e-6)), 0, 1)
        return ((x - lo) / np.float32(hi - lo)).astype(np.float32)
    if mode == "scale":
        if np.issubdtype(dtype, np.integer):
            return x / float(np.iinfo(dtype).max)
        return x
    if mode == "none":
        return x
    raise UnetkitError(f"unknown normalisation {mode!r}: use percentile, scale or none")


def prepare(native: np.ndarray, channels: int, norm: str = "percentile", invert: str = "never") -> np.ndarray:
    """Native image -> model input: channel conversion, normalisation, optional polarity flip.

    ``invert="auto"`` (gray inputs): flip images whose median is above mid-range, so objects
    are always bright on dark, whether the modality is fluorescence or brightfield/H&E.
    """
    x = normalize(to_channels(native, channels), norm)
    if invert == "auto" and np.median(x) > 0.5:
        x = (1.0 - x).astype(np.float32)
    elif invert not in ("auto", "never"):
        raise UnetkitError(f"unknown invert mode {invert!r}: use auto or never")
    return x


def load_image(path, channels: int, norm: str = "percentile", invert: str = "never") -> np.ndarray:
    """Read an image file and return float32 (H, W, channels), ready for the model."""
    return prepare(read_array(path), channels, norm, invert)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_target(path: Path) -> Path:
    """A new temporary file beside ``path`` (same folder, so the final rename is atomic),
    with the permissions a plain ``open`` would have given (mkstemp makes it owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def write_image(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """Write PNG/TIFF/NPY/JPEG atomically (temporary name, then rename)."""
    path = Path(path)
    tmp = atomic_target(path)
    try:
        suffix = path.suffix.lower()
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        elif suffix in (".tif", ".tiff"):
            tifffile.imwrite(tmp, arr, compression="zlib")
        else:
            out = arr
            if out.ndim == 3 and out.shape[2] == 3:
                out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(tmp), out):
                raise UnetkitError(f"{path}: OpenCV could not write this format/dtype")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    tmp = atomic_target(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float image in about [0, 1] to uint8 for display."""
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
