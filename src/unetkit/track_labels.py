"""Tracking label movies made elsewhere (``unetkit track``): a time lapse segmented frame by frame by another tool
(Cellpose, StarDist, a Challenge result's masks, ``count`` without ``--t``) linked by the rules ``count --t track``
and ``lineage`` use (``linking.RULES``), into the same outputs: ``NAME_labels.ome.zarr`` (ids are tracks),
``NAME_objects.csv``, ``NAME_tracks.csv``, with ``ctc`` the Challenge's ``NAME_RES``, and ``track.yaml``.

Each frame's objects get ids of their own (most tools number each frame 1..N; the ids are made unique over the
movie, in the order of the frame's own ids), then frames are linked region by region. Memory: one frame at a time
(read, renumbered, measured) and the linking's two or three frames' regions.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from .batch import collect_inputs, image_stem, raise_failures, run_batch
from .config import TRACKED
from .errors import UnetkitError
from .progress import Progress, plural

TRACK_SUFFIXES = ("_labels.ome.zarr", "_objects.csv", "_tracks.csv", "_RES")
BLOCK = 4096   # px a side of the regions frames are linked in


def track_labels(inputs, out_dir, *, mode: str = "track", ctc: bool = False, axes: str | None = None,
                 pixel_size: float | None = None, frame_interval: float | None = None, overwrite: bool = False,
                 verbose: bool = True, on_error: str = "skip") -> list[dict]:
    """Track every label movie in ``inputs`` (files, folders of them, or with ``axes`` "T:" folders of label frames);
    returns a row per movie (file, frames, objects, tracks, divisions). ``pixel_size`` (um) and ``frame_interval``
    (s) override what each file records."""
    from .io import is_sequence, open_image
    from .prediction import check_out_dir
    from .run_record import RecordWriter, run_record
    if mode not in TRACKED:
        raise UnetkitError(f"--t {mode}: choose {' or '.join(TRACKED)}")
    files = collect_inputs(inputs, sequences=is_sequence(axes))
    out = Path(out_dir)
    for name, value, unit in (("--pixel-size", pixel_size, "um per pixel"),
                              ("--frame-interval", frame_interval, "seconds between frames")):
        if value is not None and not value > 0:
            raise UnetkitError(f"{name} {value}: must be a positive number of {unit}")
    check_out_dir(out, files, overwrite, TRACK_SUFFIXES)
    out.mkdir(parents=True, exist_ok=True)
    record = RecordWriter(out, run_record("track", None, files, mode=mode, ctc=ctc, axes=axes, pixel_size=pixel_size,
                                          frame_interval=frame_interval), overwrite)
    bar = Progress(len(files), "movies", enabled=verbose)

    def one(f: Path) -> dict:
        t0 = time.time()
        img = open_image(f, axes)
        size, interval = img.units(pixel_size, frame_interval)
        record.write()
        # a movie count labelled (NAME_labels) keeps its name: its outputs pair with NAME's truth as count's do
        row = track_movie(img, out, image_stem(f).removesuffix("_labels"), mode, ctc, size, interval, overwrite,
                          verbose)
        bar.step(f"{f.name}: {plural(row['tracks'], 'track')} over {plural(row['frames'], 'frame')}"
                 + (f", {plural(row['divisions'], 'division')}" if mode == "lineage" else "")
                 + f" in {time.time() - t0:.2f} s")
        return row

    rows, failures = run_batch(files, one, on_error=on_error)
    bar.close(f"tracked {plural(len(rows), 'movie')}; outputs in {out}")
    raise_failures(failures, len(files))
    return rows


def track_movie(img, out: Path, stem: str, mode: str, ctc: bool, pixel_size: float | None,
                frame_interval: float | None, overwrite: bool = False, verbose: bool = True) -> dict:
    """One label movie (a ``LazyImage`` of T frames) tracked into ``out``; its summary row."""
    from .blocks.omezarr import ZarrOutput
    from .blocks.engine import block_regions
    from .io import pixels
    from .linking import RULES, link_planes
    from .tracks import Tracks
    path = img.path
    _check_movie(img)
    n_t, (h, w) = img.shape["T"], (img.shape["Y"], img.shape["X"])
    labels = None
    try:
        labels = ZarrOutput.create(out / f"{stem}_labels.ome.zarr", t=n_t, c=None, z=None, yx=(h, w), dtype=np.uint32,
                                   reduce="nearest", pixel_size=img.pixel_size, frame_interval=frame_interval)
        n = 0
        for t in range(n_t):   # each frame's own ids, made unique over the movie
            frame, n = renumbered(pixels(path, img.data[t, 0, 0]), n, f"{path}: frame {t}")
            labels.write(t, 0, 0, 0, frame)
        bar = Progress(n_t - 1, f"links ({path.name}: frames)", enabled=verbose)
        def write(k, region, block):
            labels.write(k, 0, region[0], region[2], block)
        links = link_planes(lambda k, region: labels.read(k, 0, *region), write, n_t, block_regions((h, w), BLOCK),
                            **RULES[mode], step=lambda k: bar.step(f"t {k - 1} -> {k}"))
        tracks = Tracks(links.parents, frame_interval)
        _write_objects(out / f"{stem}_objects.csv", labels, n_t, (h, w), path.name, pixel_size, tracks)
        tracks.write(out / f"{stem}_tracks.csv")
        from .ctc import finish_tracked
        finish_tracked(labels, out / f"{stem}_RES" if ctc else None, n_t, (h, w), tracks, overwrite)
    except BaseException:
        if labels is not None:
            labels.discard()
        raise
    return {"file": path.name, "frames": n_t, "objects": n, "tracks": len(tracks.state),
            "divisions": len(set(links.parents.values()))}


def renumbered(frame: np.ndarray, offset: int, what: str) -> tuple[np.ndarray, int]:
    """(``frame``'s objects numbered ``offset`` + 1.. in the order of their own ids, as uint32; the last id given):
    each frame's ids made unique over a movie. ``what`` names the frame in the message that refuses negatives."""
    if frame.min() < 0:
        raise UnetkitError(f"{what} holds negative values; labels are 0 (background) and 1, 2, ...")
    inside = frame > 0
    _, ids = np.unique(frame[inside], return_inverse=True)
    out = np.zeros(frame.shape, np.uint32)
    out[inside] = ids.ravel() + 1 + offset
    return out, offset + (int(ids.max()) + 1 if inside.any() else 0)


def _check_movie(img) -> None:
    """A label movie: time points, one plane a frame, whole numbers."""
    if img.shape["T"] < 2:
        raise UnetkitError(f"{img.path}: {img.describe()}, not a time lapse; name its time axis (--axes TYX) or, "
                           "for a folder of frames, pass --sequence t")
    if img.shape["C"] > 1 or img.shape["Z"] > 1:
        raise UnetkitError(f"{img.path}: {img.describe()}; a label movie has one plane a frame (T, Y, X)")
    if not (np.issubdtype(img.dtype, np.integer) or img.dtype == bool):
        raise UnetkitError(f"{img.path}: {img.dtype} values; a label movie holds whole numbers (0 background, "
                           "1, 2, ... objects): pass the label images, not probabilities or intensities")


def _write_objects(target: Path, labels, n_t: int, yx: tuple[int, int], file: str, pixel_size: float | None,
                   tracks) -> None:
    """``NAME_objects.csv`` of the tracked label movie, frame by frame, each row also summed into ``tracks``;
    written under a temporary name, renamed at the end."""
    from .instances import TABLE_COLUMNS, measure
    from .io.write import atomic_target
    tmp = atomic_target(target)
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, TABLE_COLUMNS)
            writer.writeheader()
            for t in range(n_t):
                frame = labels.read(t, 0, 0, yx[0], 0, yx[1])
                for r in measure(frame, None, pixel_size):
                    row = {"file": file, "t": t, "z": 0, **r, "pixel_size_um": pixel_size or ""}
                    writer.writerow(row)
                    tracks.add(row)
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()
