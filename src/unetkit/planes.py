"""Which 2D planes of a microscope image the model sees, and how each is read.

A ``LazyImage`` has axes T, C, Z, Y, X; a 2D model wants (Y, X, channels). The user
says how to get there, and nothing is collapsed silently:
  channels  microscope channels (C > 1) need ``--channel NAME|INDEX`` (several for an
            RGB model); the colour samples of an RGB picture pass as today;
  z         a z-stack needs ``--z slices`` (each slice, objects linked across z
            afterwards) or ``--z max`` (maximum projection);
  t         a time series is predicted frame by frame; ``--t track`` (count) then links
            objects from frame to frame (one id along a track), ``--t lineage`` also
            finds divisions (each daughter a track, its parent named).
A plane is read block by block (``Plane.read``); its normalisation statistics are
gathered over the whole plane first, in memory for small planes and as a streamed
histogram over blocks for large ones, so every block is normalised alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data.prepare import NormParams, apply_norm, norm_params, params_from_stats, percentiles_from_histogram, \
    to_channels, PERCENTILES, POLARITY_BIN, polarity_pixels
from .config import AxisChoice, T_MODES, TRACKED, Z_MODES  # noqa: F401  (settings live in config)
from .errors import SetupError, UnetkitError
from .io import LazyImage, pixels
from .progress import plural


@dataclass
class Selection:
    """The planes to predict: ``data`` is (T, Z, Y, X, C) lazy, native dtype."""
    image: LazyImage
    data: object
    z_mode: str | None
    channel_names: list[str]
    t_mode: str | None = None    # None: one time point; frames | track

    @property
    def planes(self) -> list[tuple[int, int]]:
        return [(t, z) for t in range(self.data.shape[0]) for z in range(self.data.shape[1])]

    @property
    def yx(self) -> tuple[int, int]:
        return int(self.data.shape[2]), int(self.data.shape[3])

    def describe_planes(self) -> str:
        """'4 time points x 1 slice', for messages."""
        n_t, n_z = self.data.shape[:2]
        return f"{plural(int(n_t), 'time point')} x {plural(int(n_z), 'slice')}"

    def require_one_plane(self, why: str) -> None:
        """Refuse a stack where one plane is taken, naming its planes and ``why``: never its first plane alone,
        in silence."""
        if len(self.planes) > 1:
            raise UnetkitError(f"{self.image.path}: {self.describe_planes()}; {why}")

    def plane(self, t: int, z: int) -> "Plane":
        return Plane(self, t, z)


def _resolve_channel(img: LazyImage, c) -> int:
    n = img.shape["C"]
    if isinstance(c, str) and not c.lstrip("-").isdigit():
        names = [s.lower() for s in img.channel_names]
        if c.lower() not in names:
            known = ", ".join(img.channel_names) or "none recorded; use an index"
            raise UnetkitError(f"{img.path}: no channel named {c!r} (channels: {known})")
        return names.index(c.lower())
    i = int(c)
    if not 0 <= i < n:
        raise UnetkitError(f"{img.path}: --channel {i} out of range; the image has channels 0..{n - 1}")
    return i


def select(img: LazyImage, model_channels: int, choice: AxisChoice | None = None) -> Selection:
    """Check the image's axes against the model and the user's choice; refuse what does not fit."""
    import dask.array as da
    choice = choice or AxisChoice()
    n_c, n_z = img.shape["C"], img.shape["Z"]
    data = img.data  # T C Z Y X
    if choice.channel:
        idx = [_resolve_channel(img, c) for c in choice.channel]
        if len(idx) not in (1, model_channels):
            raise UnetkitError(f"{img.path}: --channel picked {len(idx)} channels; this model takes "
                               f"{model_channels} (pass {'one' if model_channels == 1 else 'one or three'})")
        data = data[:, idx]
        names = [img.channel_names[i] if i < len(img.channel_names) else str(i) for i in idx]
    elif n_c > 1 and not img.rgb:
        names = ", ".join(f"{i}={n}" for i, n in enumerate(img.channel_names)) or f"0..{n_c - 1}"
        raise UnetkitError(f"{img.path}: {n_c} channels ({names}) and this model takes {model_channels}; "
                           f"pass --channel NAME or INDEX{' (three for RGB)' if model_channels == 3 else ''}")
    else:
        names = list(img.channel_names)
    if n_z > 1:
        if choice.z is None:
            raise UnetkitError(f"{img.path}: a z-stack of {n_z} slices; pass --z slices (each slice, objects linked "
                               "across z) or --z max (maximum projection)")
        if choice.z not in Z_MODES:
            raise SetupError(f"--z {choice.z}: choose {_either(Z_MODES)}")
        if choice.z == "max":
            data = data.max(axis=2, keepdims=True)
    if choice.t not in T_MODES:
        raise SetupError(f"--t {choice.t}: choose {_either(T_MODES)}")
    n_t = img.shape["T"]
    if choice.t in TRACKED and n_t > 1 and n_z > 1 and choice.z == "slices":
        raise UnetkitError(f"{img.path}: --t {choice.t} links the objects of one plane from frame to frame, and this "
                           f"time series has {n_z} slices a frame; pass --z max to track on the projection")
    data = da.moveaxis(data, 1, -1)  # T Z Y X C
    return Selection(img, data, choice.z if n_z > 1 else None, names, choice.t if n_t > 1 else None)


def _either(choices) -> str:
    """'a, b or c', for the message that refuses a value outside ``choices``."""
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


@dataclass
class Plane:
    """One (t, z) plane of a selection, read in blocks."""
    selection: Selection
    t: int
    z: int

    @property
    def path(self):
        return self.selection.image.path

    def native(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Native pixels (h, w) or (h, w, C) of a rectangle."""
        arr = pixels(self.path, self.selection.data[self.t, self.z, y0:y1, x0:x1])
        return arr[..., 0] if arr.shape[-1] == 1 else arr

    def whole(self) -> np.ndarray:
        h, w = self.selection.yx
        return self.native(0, h, 0, w)


def check_finite(path, arr: np.ndarray, policy: str) -> np.ndarray | None:
    """A mask of non-finite pixels (None when all are finite); refuse them unless ``policy`` is mask."""
    if not np.issubdtype(arr.dtype, np.floating):
        return None
    bad = ~np.isfinite(arr)
    if bad.ndim == 3:
        bad = bad.any(-1)
    n = int(bad.sum())
    if n == 0:
        return None
    if policy != "mask":
        raise UnetkitError(f"{path}: {n} NaN/inf pixels; fix the file, or pass --nan mask to predict them as "
                           "background")
    return bad


def plane_params(plane: Plane, channels: int, norm: str, invert: str, nan: str, *, block: int = 4096,
                 in_memory_pixels: int = 2 ** 24) -> NormParams:
    """Normalisation of a whole plane: exactly the in-memory statistics for planes up to
    ``in_memory_pixels``; above that a histogram streamed over blocks, exact for integer
    images (percentiles of a histogram lose nothing) and within 1/65536 of the range for
    float ones. Non-finite pixels are refused here, before anything is written."""
    h, w = plane.selection.yx
    if h * w <= in_memory_pixels:
        return native_params(plane.path, plane.whole(), channels, norm, invert, nan)[0]
    return _streamed_params(plane, channels, norm, invert, nan, block)


def native_params(path, native: np.ndarray, channels: int, norm: str, invert: str,
                  nan: str) -> tuple[NormParams, np.ndarray | None]:
    """(normalisation, non-finite mask) of a plane already in memory: the in-memory path's statistics."""
    bad = check_finite(path, native, nan)
    x = to_channels(native, channels)
    return norm_params(x[~bad] if bad is not None else x, norm, invert), bad


def _streamed_params(plane: Plane, channels, norm, invert, nan, block) -> NormParams:
    h, w = plane.selection.yx
    if norm == "channel":
        raise UnetkitError(f"{plane.path}: per-channel normalisation (norm 'channel', the plan's choice for colour "
                           f"regions) is computed in memory only, and this plane has {h}x{w} px; predict it with "
                           "--blocks never if it fits in memory")
    blocks = [(y, min(y + block, h), x, min(x + block, w)) for y in range(0, h, block) for x in range(0, w, block)]
    dtype = None
    counts: dict = {}
    binned_counts: dict = {}   # the polarity's histogram: blocks averaged over POLARITY_BIN squares (prepare.py)
    lo_hi = [np.inf, -np.inf]
    floats = None
    for y0, y1, x0, x1 in blocks:  # pass 1: integer histograms, or the range of a float image
        native = plane.native(y0, y1, x0, x1)
        bad = check_finite(plane.path, native, nan)
        x = to_channels(native, channels)
        small = polarity_pixels(x[~bad] if bad is not None else x) if invert == "auto" else None
        x = x[~bad] if bad is not None else x.ravel()
        dtype = x.dtype
        floats = np.issubdtype(x.dtype, np.floating)
        if floats:
            if x.size:
                lo_hi = [min(lo_hi[0], float(x.min())), max(lo_hi[1], float(x.max()))]
        else:
            _tally(counts, x)
            if small is not None:   # a mean of POLARITY_BIN^2 integers: exact in 1/POLARITY_BIN^2 steps
                _tally(binned_counts, np.round(small * POLARITY_BIN ** 2).astype(np.int64))
    if norm != "percentile" and invert != "auto":
        return params_from_stats(norm, dtype, invert=invert)
    if floats:
        edges = np.linspace(lo_hi[0], lo_hi[1], 65537)
        hist, binned_hist = np.zeros(65536, np.int64), np.zeros(65536, np.int64)
        for y0, y1, x0, x1 in blocks:  # pass 2: fine histograms of the float range
            native = plane.native(y0, y1, x0, x1)
            x = to_channels(native, channels)
            finite = np.isfinite(x)
            if invert == "auto":
                binned_hist += np.histogram(polarity_pixels(x if finite.all() else x[finite]), edges)[0]
            hist += np.histogram(x[finite], edges)[0]
        values, cnt = (edges[:-1] + edges[1:]) / 2, hist
        polarity = (values, binned_hist)
    else:
        values, cnt = _histogram(counts)
        v, c = _histogram(binned_counts)
        polarity = (v / POLARITY_BIN ** 2, c)
    keep = cnt > 0
    lo, hi = percentiles_from_histogram(cnt[keep], values[keep], list(PERCENTILES))
    return params_from_stats(norm, dtype, lo, hi, invert, *polarity)


def _tally(counts: dict, x: np.ndarray) -> None:
    v, c = np.unique(x, return_counts=True)
    for a, b in zip(v.tolist(), c.tolist()):
        counts[a] = counts.get(a, 0) + b


def _histogram(counts: dict) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(counts)
    return np.array(keys, np.float64), np.array([counts[k] for k in keys], np.int64)


def model_input(native: np.ndarray, channels: int, params: NormParams, bad: np.ndarray | None = None) -> np.ndarray:
    """Native block -> float32 (h, w, channels) model input with the plane's normalisation."""
    x = to_channels(native, channels)
    if bad is not None:  # masked non-finite pixels read as the plane's low percentile (background)
        x = np.where(bad[..., None], np.asarray(params.offset, np.float32), x)
    return apply_norm(x, params)
