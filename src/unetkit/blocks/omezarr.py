"""OME-Zarr (NGFF 0.4) outputs written block by block.

An output is created in a hidden temporary folder beside its final name, filled by
region writes from any process (each block writes whole chunks, so writers never
share a chunk), given its multiscale pyramid (each level built block by block from the
one above, bounded memory) and NGFF metadata, then renamed into place: a crash never
leaves a half-written ``NAME_prob.ome.zarr``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.write import atomic_folder, commit_folder

MIN_LEVEL_SIDE = 512   # the pyramid stops once a level fits in this many px per side


@dataclass
class ZarrOutput:
    """One OME-Zarr image of shape (T?, C?, Z?, Y, X); ``axes`` says which are present."""
    final: Path
    tmp: Path
    axes: str            # subset of "tczyx", in that order
    shape: tuple
    dtype: str
    chunk: int
    reduce: str          # mean (probabilities) | nearest (masks, labels: written as NGFF label images)
    pixel_size: tuple[float, float] | None = None
    channel_names: tuple[str, ...] = ()
    frame_interval: float | None = None   # s between time points: the t axis's scale, in seconds

    @classmethod
    def create(cls, final: Path, *, t: int | None, c: int | None, z: int | None, yx: tuple[int, int], dtype,
               chunk: int = 1024, reduce: str = "mean", pixel_size=None, channel_names=(),
               frame_interval: float | None = None) -> "ZarrOutput":
        import zarr
        axes = "".join(a for a, n in zip("tcz", (t, c, z)) if n is not None) + "yx"
        shape = tuple(n for n in (t, c, z) if n is not None) + tuple(int(v) for v in yx)
        out = cls(Path(final), atomic_folder(Path(final)), axes, shape, np.dtype(dtype).str, chunk, reduce,
                  pixel_size, tuple(channel_names), frame_interval)
        group = zarr.open_group(str(out.tmp), mode="w", zarr_format=2)
        group.create_array("0", shape=shape, chunks=out._chunks(shape), dtype=np.dtype(dtype), fill_value=0,
                           chunk_key_encoding={"name": "v2", "separator": "/"})
        return out

    def _chunks(self, shape):
        return tuple(1 for _ in self.axes[:-2]) + tuple(min(self.chunk, s) for s in shape[-2:])

    def _key(self, t, z, ys: slice, xs: slice, c=None):
        parts = {"t": t, "c": slice(None) if c is None else c, "z": z}
        return tuple(parts[a] for a in self.axes[:-2]) + (ys, xs)

    def array(self, level: int = 0, mode: str = "r+"):
        import zarr
        return zarr.open_array(str(self.tmp / str(level)), mode=mode)

    def write(self, t: int, z: int, y0: int, x0: int, block: np.ndarray) -> None:
        """``block`` is (h, w) or (h, w, C)."""
        arr = self.array()
        h, w = block.shape[:2]
        if "c" in self.axes:
            data = block[None] if block.ndim == 2 else np.moveaxis(block, -1, 0)
        else:
            data = block
        arr[self._key(t, z, slice(y0, y0 + h), slice(x0, x0 + w))] = data.astype(arr.dtype, copy=False)

    def read(self, t: int, z: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(h, w) or (h, w, C)."""
        data = np.asarray(self.array(mode="r")[self._key(t, z, slice(y0, y1), slice(x0, x1))])
        return np.moveaxis(data, 0, -1) if "c" in self.axes else data

    def planes(self):
        t = self.shape[self.axes.index("t")] if "t" in self.axes else 1
        z = self.shape[self.axes.index("z")] if "z" in self.axes else 1
        return [(i, j) for i in range(t) for j in range(z)]

    def _downsample(self, level: int, block: int) -> None:
        """Level ``level + 1`` from ``level`` by 2x2 mean (probabilities) or nearest pixel (masks, labels)."""
        import zarr
        src = self.array(level, "r")
        h, w = src.shape[-2:]
        shape = src.shape[:-2] + ((h + 1) // 2, (w + 1) // 2)
        group = zarr.open_group(str(self.tmp), mode="r+")
        dst = group.create_array(str(level + 1), shape=shape, chunks=self._chunks(shape), dtype=src.dtype,
                                 fill_value=0, chunk_key_encoding={"name": "v2", "separator": "/"})
        lead = [range(n) for n in src.shape[:-2]]
        for idx in np.ndindex(*[len(r) for r in lead]) if lead else [()]:
            for y in range(0, h, block):
                for x in range(0, w, block):
                    a = np.asarray(src[idx + (slice(y, y + block), slice(x, x + block))])
                    if self.reduce == "mean":
                        a = a.astype(np.float32)
                        ph, pw = a.shape[-2] % 2, a.shape[-1] % 2
                        if ph or pw:
                            a = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)], mode="edge")
                        a = a.reshape(a.shape[:-2] + (a.shape[-2] // 2, 2, a.shape[-1] // 2, 2)).mean((-3, -1))
                    else:
                        a = a[..., ::2, ::2]
                    dst[idx + (slice(y // 2, y // 2 + a.shape[-2]), slice(x // 2, x // 2 + a.shape[-1]))] = \
                        a.astype(dst.dtype)

    def finish(self, overwrite: bool = False, block: int = 4096) -> Path:
        """Pyramid, NGFF metadata, then the rename into place."""
        import zarr
        from ome_zarr.format import FormatV04
        from ome_zarr.writer import write_multiscales_metadata
        level = 0
        while max(self.array(level, "r").shape[-2:]) > MIN_LEVEL_SIDE:
            self._downsample(level, block)
            level += 1
        sy, sx = self.pixel_size or (1.0, 1.0)
        lead = [self.frame_interval or 1.0 if a == "t" else 1.0 for a in self.axes[:-2]]
        datasets = [{"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": lead + [sy * 2 ** i, sx * 2 ** i]}]} for i in range(level + 1)]
        kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
        units = {**({"y": "micrometer", "x": "micrometer"} if self.pixel_size else {}),
                 **({"t": "second"} if self.frame_interval else {})}
        axes = [{"name": a, "type": kinds[a], **({"unit": units[a]} if a in units else {})} for a in self.axes]
        group = zarr.open_group(str(self.tmp), mode="r+")
        write_multiscales_metadata(group, datasets, fmt=FormatV04(), axes=axes, name=self.final.name)
        if self.channel_names:
            group.attrs["omero"] = {"channels": [{"label": n, "active": True} for n in self.channel_names]}
        if self.reduce == "nearest":
            # values are ids or classes, not intensities: NGFF's image-label metadata makes readers (ome-zarr-py,
            # napari's OME-Zarr reader) open it as a labels layer, one colour per object, not a grey image
            group.attrs["image-label"] = {"version": FormatV04().version}
        return commit_folder(self.tmp, self.final, overwrite)

    def discard(self) -> None:
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)


def describe(path: Path) -> str:
    """'axes tczyx, shape (...)' of a finished output, for messages and tests."""
    meta = json.loads((Path(path) / ".zattrs").read_text())["multiscales"][0]
    shape = json.loads((Path(path) / "0" / ".zarray").read_text())["shape"]
    return f"axes {''.join(a['name'] for a in meta['axes'])}, shape {tuple(shape)}"
