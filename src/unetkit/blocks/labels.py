"""Counting block by block: objects stitched across seams, one id each, tables streamed.

Three passes over blocks, each a set of Dask tasks:
  1. probabilities of every block into a scratch Zarr (``blocks.predict``);
  2. each block labels its core plus a halo of probabilities (``BlockConfig.halo``, at
     least the largest object) and keeps the objects whose first pixel in raster order
     lies in its core. An object on a seam is seen whole by the blocks on both sides,
     and exactly one of them owns its first pixel: nothing counted twice, nothing cut.
     Kept objects go to a scratch crop with ids 1..n and their measurements to a
     scratch CSV;
  3. each block's core is painted from the crops that reach it, ids shifted by the
     running count of the blocks before (ids unique over the whole image).
For z-stacks (``--z slices``) objects of consecutive slices that overlap with IoU >= 0.5
then share one id (linked block by block, bounded by the number of objects, not pixels);
for time series with ``--t track`` consecutive frames are linked the same way, by mutual best matches down to
IoU 0.25 (a track keeps its id); ``--t lineage`` also ends a track where it divides in two (``linking``).
``NAME_objects.csv`` is streamed from the scratch CSVs, and the outline files asked for (``io.object_files``) from the
outlines each block traced of the objects it owns, whole; memory is a few blocks.
"""
from __future__ import annotations

import csv
import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..config import TRACKED, BlockConfig
from ..instances import OBJECT_COLUMNS, InstanceConfig, is_sure, measure, objects_from_probs, split_distance, \
    TABLE_COLUMNS
from ..io.write import atomic_folder, atomic_target
from ..linking import RULES, Links, link_planes
from ..planes import AxisChoice
from ..predictor import Predictor
from ..progress import Progress, plural
from . import engine
from .engine import block_regions
from .omezarr import ZarrOutput
from .predict import ImageJob, output_axes, prepare_job, preview, preview_image, run_blocks, \
    say_smoothing, with_scale

SAMPLE = 2048    # px: side of the central window of the first plane in which count finds the object size


@dataclass
class LabelTask:
    job: ImageJob
    scratch: str
    t: int
    z: int
    index: int
    region: tuple[int, int, int, int]
    halo: int
    icfg: InstanceConfig
    pixel_size: float | None
    file: str
    distance: bool = False       # the probabilities' last channel is the model's distance head (seeds)
    outlines: bool = False       # also trace the kept objects' outlines (for the outline files asked for)


def _crop_path(task_or_scratch, t, z, index) -> Path:
    return Path(task_or_scratch) / "crops" / f"{t}_{z}_{index}"


def label_block(task: LabelTask) -> dict:
    """Label core + halo, keep the objects this block owns, save them and their measurements."""
    import zarr
    job = task.job
    h, w = job.selection().yx
    y0, y1, x0, x1 = task.region
    Y0, Y1, X0, X1 = max(y0 - task.halo, 0), min(y1 + task.halo, h), max(x0 - task.halo, 0), min(x1 + task.halo, w)
    probs = job.outputs["prob"].read(task.t, task.z, Y0, Y1, X0, X1)
    probs, distance = split_distance(probs if probs.ndim == 3 else probs[..., None], task.distance)
    # every object first, scored; those under min_score dropped among the ones this block owns, so each dropped
    # object is counted (for the progress line) by exactly one block, as each kept one is
    every = objects_from_probs(probs, dataclasses.replace(task.icfg, min_score=0), distance)
    labels, sure = every.labels, is_sure(every.scores, task.icfg.min_score)
    keep = np.zeros(int(labels.max()) + 1, bool)
    cut = unsure = 0
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        row = box[0].start
        col = box[1].start + int(np.argmax(labels[row, box[1]] == i))
        gy, gx = row + Y0, col + X0
        if y0 <= gy < y1 and x0 <= gx < x1:
            if not sure[i - 1]:
                unsure += 1
                continue
            keep[i] = True
            # touching a halo edge that is not the image border: larger than the halo, may be cut
            cut += (box[0].start == 0 and Y0 > 0) or (box[0].stop == labels.shape[0] and Y1 < h) or \
                   (box[1].start == 0 and X0 > 0) or (box[1].stop == labels.shape[1] and X1 < w)
    ids = np.flatnonzero(keep)
    lut = np.zeros(len(keep), np.uint32)
    lut[ids] = np.arange(1, len(ids) + 1)
    kept = lut[labels]
    result = {"n": len(ids), "cut": int(cut), "unsure": unsure, "box": None}
    if len(ids) == 0:
        return result
    rows, cols = np.nonzero(kept.any(1))[0], np.nonzero(kept.any(0))[0]
    by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    sub = kept[by0:by1, bx0:bx1]
    arr = zarr.open_array(str(_crop_path(task.scratch, task.t, task.z, task.index)), mode="w", shape=sub.shape,
                          chunks=(min(1024, sub.shape[0]), min(1024, sub.shape[1])), dtype=np.uint32,
                          zarr_format=2)
    arr[:] = sub
    result["box"] = (int(Y0 + by0), int(Y0 + by1), int(X0 + bx0), int(X0 + bx1))
    if task.outlines:   # outlines in image coordinates, in id order as the rows below
        import json
        from ..io.outlines import object_geometries
        with open(Path(task.scratch) / "rows" / f"{task.t}_{task.z}_{task.index}.geo", "w") as fh:
            for _, geometry in object_geometries(kept, (Y0, X0)):
                fh.write(json.dumps(geometry, separators=(",", ":")) + "\n")
    native = job.selection().plane(task.t, task.z).native(Y0, Y1, X0, X1)
    s = task.pixel_size or 1.0
    with open(Path(task.scratch) / "rows" / f"{task.t}_{task.z}_{task.index}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        for r in measure(kept.astype(np.int32), np.nan_to_num(native), task.pixel_size, every.scores[ids - 1]):
            r["centroid_y"] += Y0 * s
            r["centroid_x"] += X0 * s
            r["bbox_y0"] += Y0
            r["bbox_y1"] += Y0
            r["bbox_x0"] += X0
            r["bbox_x1"] += X0
            writer.writerow([r[c] for c in OBJECT_COLUMNS])
    return result


@dataclass
class PaintTask:
    job: ImageJob
    scratch: str
    t: int
    z: int
    region: tuple[int, int, int, int]
    sources: list      # [(block index, offset, box)] of crops that reach this core


def paint_block(task: PaintTask) -> None:
    import zarr
    y0, y1, x0, x1 = task.region
    out = np.zeros((y1 - y0, x1 - x0), np.uint32)
    for index, offset, (by0, by1, bx0, bx1) in task.sources:
        iy0, iy1, ix0, ix1 = max(y0, by0), min(y1, by1), max(x0, bx0), min(x1, bx1)
        crop = zarr.open_array(str(_crop_path(task.scratch, task.t, task.z, index)), mode="r")
        part = np.asarray(crop[iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0])
        view = out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        free = (part > 0) & (view == 0)  # first owner wins where two objects larger than the halo overlap
        view[free] = part[free] + np.uint32(offset)
    task.job.outputs["labels"].write(task.t, task.z, y0, x0, out)


def _link_planes(labels: ZarrOutput, planes: list[tuple[int, int]], regions, kind: str,
                 bar: Progress | None = None) -> Links:
    """``linking.link_planes`` over the (t, z) ``planes`` of the label image by the rule of their ``kind``
    (``linking.RULES``: consecutive slices of a z-stack, or frames of a time series, bridged across missed frames,
    divisions found for a lineage), rewritten region by region; returns the ``linking.Links``. ``bar`` steps
    once a link (a long movie's linking reads every frame twice).
    Memory: two or three planes' label regions at a time, and the objects' overlap counts."""
    def read(k, region):
        y0, y1, x0, x1 = region
        return labels.read(*planes[k], y0, y1, x0, x1)

    def write(k, region, block):
        labels.write(*planes[k], region[0], region[2], block)

    def step(k):
        (ta, za), (tb, zb) = planes[k - 1], planes[k]
        bar.step(f"t {ta} -> {tb}" if ta != tb else f"z {za} -> {zb}")
    return link_planes(read, write, len(planes), regions, **RULES[kind], step=None if bar is None else step)


def _link(labels: ZarrOutput, sel, regions, n_objects: int, name: str, verbose: bool) -> tuple[dict, Links | None]:
    """The z-slices (``--z slices``) and frames (``--t track``, ``lineage``) of the label image linked as the
    selection asks: ({raw id: linked id} over both, the frames' ``Links`` or None), with progress and, for a time
    lapse, how many tracks (and divisions) it holds."""
    n_t, n_z = sel.data.shape[0], sel.data.shape[1]
    linked, tracked = {}, None
    if sel.z_mode == "slices":
        bar = Progress(n_t * (n_z - 1), f"links ({name}: slices)", enabled=verbose)
        for t in range(n_t):
            linked.update(_link_planes(labels, [(t, z) for z in range(n_z)], regions, "slices", bar).ids)
    if sel.t_mode in TRACKED:   # one plane a frame (planes.select refused z slices with it)
        bar = Progress(n_t - 1, f"links ({name}: frames)", enabled=verbose)
        tracked = _link_planes(labels, [(t, 0) for t in range(n_t)], regions, sel.t_mode, bar)
        linked.update(tracked.ids)
        if verbose:   # every link joins two ids into one
            divisions = f", {plural(len(tracked.parents) // 2, 'division')}" if sel.t_mode == "lineage" else ""
            print(f"[unetkit] {name}: {plural(n_objects - len(tracked.ids), 'track')} over "
                  f"{plural(n_t, 'frame')}{divisions}", flush=True)
    return linked, tracked


def count_image(predictor: Predictor, path: Path, out: Path, stem: str, choice: AxisChoice, bcfg: BlockConfig,
                icfg: InstanceConfig, pixel_size: float | None, frame_interval: float | None = None, *,
                axes: str | None = None, overwrite: bool = False, verbose: bool = True, outlines: tuple = (),
                ctc: bool = False) -> list[dict]:
    """``NAME_labels.ome.zarr``, ``NAME_objects.csv`` (and the ``outlines`` formats' files) and a preview
    ``NAME_count.png`` (with ``NAME_tracks.csv`` where frames are linked: ``frame_interval`` s, if known, gives the
    tracks' speeds per minute and the label image's time scale; ``ctc``: also the Cell Tracking Challenge's
    ``NAME_RES``); returns one counts row per time point."""
    from ..io import write_image
    from ..viz import count_overlay
    job, sel = prepare_job(predictor, path, choice, bcfg, axes)
    scale, found = sample_scale(job, sel, predictor, icfg)
    if scale != job.scale:
        job = with_scale(job, predictor, sel.yx, scale)
    from ..diameter import native_settings
    icfg = native_settings(icfg, job.scale)   # labels are made at full resolution
    if verbose and found:
        print(f"[unetkit] {path.name}: objects {found:.0f} px across in the central {SAMPLE} px window: predicting "
              f"at scale {scale:.2f}", flush=True)
    say_smoothing(job, path.name, verbose)
    k = predictor.outputs()
    n_t, n_z = sel.data.shape[0], sel.data.shape[1]
    scratch = atomic_folder(out / f"{stem}.scratch")
    (scratch / "crops").mkdir()
    (scratch / "rows").mkdir()
    where = output_axes(sel)
    labels_out = None
    try:
        job.outputs = {"prob": ZarrOutput.create(scratch / "prob.zarr", t=n_t, c=k, z=n_z, yx=sel.yx,
                                                 dtype=np.float32, chunk=bcfg.chunk)}
        run_blocks(job, sel, bcfg, verbose, f"{path.name}: probabilities")
        if bcfg.label_block % bcfg.chunk:
            from ..errors import UnetkitError
            raise UnetkitError(f"label block {bcfg.label_block} must be a multiple of the chunk size {bcfg.chunk}")
        regions = block_regions(sel.yx, bcfg.label_block)
        tasks, offsets, boxes = _label_objects(job, sel, scratch, regions, predictor, bcfg, icfg, pixel_size,
                                               path, bool(outlines), verbose)
        labels_out = ZarrOutput.create(out / f"{stem}_labels.ome.zarr", t=where["t"], c=None, z=where["z"],
                                       yx=sel.yx, dtype=np.uint32, chunk=bcfg.chunk, reduce="nearest",
                                       pixel_size=sel.image.pixel_size, frame_interval=frame_interval)
        job.outputs["labels"] = labels_out
        _paint_labels(job, sel, scratch, regions, tasks, offsets, boxes, bcfg, path.name, verbose)
        linked, tracked = _link(labels_out, sel, regions, int(offsets[-1]), path.name, verbose)
        tracks = None
        if tracked is not None:   # a row per track: frames, start, end, path length, speed, parent
            from ..tracks import Tracks
            tracks = Tracks(tracked.parents, frame_interval)
        counts = _write_table(out / f"{stem}_objects.csv", tasks, offsets, linked, path.name, pixel_size, n_t,
                              tracks)
        if tracks is not None:
            tracks.write(out / f"{stem}_tracks.csv")
        if outlines:
            _write_outlines(outlines, out, stem, tasks, offsets, linked, stacked=n_t * n_z > 1)
        from ..ctc import finish_tracked
        finish_tracked(labels_out, out / f"{stem}_RES" if ctc and tracks is not None else None, n_t, sel.yx, tracks,
                       overwrite, bcfg.block_size)
    except BaseException:
        if labels_out is not None:
            labels_out.discard()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    level, lab = preview(labels_out)
    # the first plane, at the finest pyramid level no larger than 2048 px: the count is the first time point's
    write_image(out / f"{stem}_count.png", count_overlay(preview_image(sel, 2 ** level), lab.astype(np.int64),
                                                         counts[0]))
    return [{"file": path.name, "t": t, "count": counts[t]} for t in range(n_t)]


def _label_objects(job: ImageJob, sel, scratch: Path, regions, predictor: Predictor, bcfg: BlockConfig,
                   icfg: InstanceConfig, pixel_size: float | None, path: Path, outlines: bool,
                   verbose: bool) -> tuple[list, np.ndarray, list]:
    """Every block of every plane labelled on its own (``label_block``: crops and rows in ``scratch``); returns
    (the tasks, each task's first global id - 1 and the total last, each task's box of kept objects or None), with
    a line on what was dropped or cut."""
    import sys

    from ..errors import UnetkitError
    tasks = [LabelTask(job, str(scratch), t, z, i, r, bcfg.halo, icfg, pixel_size, path.name,
                       distance=predictor.heads == "all", outlines=outlines)
             for t, z in sel.planes for i, r in enumerate(regions)]
    results = engine.run(label_block, tasks, scheduler=bcfg.scheduler, workers=bcfg.workers,
                         label=f"{path.name}: objects", verbose=verbose)
    offsets = np.concatenate([[0], np.cumsum([r["n"] for r in results])]).astype(np.int64)
    if offsets[-1] > np.iinfo(np.uint32).max:
        raise UnetkitError(f"{path}: more than 2^32 objects; split the image")
    cut, unsure = sum(r["cut"] for r in results), sum(r["unsure"] for r in results)
    if verbose and unsure:
        print(f"[unetkit] {path.name}: {plural(unsure, 'object')} scored under --min-score "
              f"{icfg.min_score:g} and were dropped", flush=True)
    if cut:
        print(f"[unetkit] {path.name}: {plural(cut, 'object')} reach beyond the {bcfg.halo} px halo and may be "
              "cut at a block seam; raise --halo", file=sys.stderr)
    return tasks, offsets, [r["box"] for r in results]


def _paint_labels(job: ImageJob, sel, scratch: Path, regions, tasks: list, offsets: np.ndarray, boxes: list,
                  bcfg: BlockConfig, name: str, verbose: bool) -> None:
    """The label image painted region by region from the objects the blocks kept whose boxes touch it."""
    by_plane = {}
    for task, off, box in zip(tasks, offsets[:-1], boxes):
        if box is not None:
            by_plane.setdefault((task.t, task.z), []).append((task.index, int(off), box))
    paints = []
    for t, z in sel.planes:
        for r in regions:
            src = [s for s in by_plane.get((t, z), []) if s[2][0] < r[1] and s[2][1] > r[0]
                   and s[2][2] < r[3] and s[2][3] > r[2]]
            paints.append(PaintTask(job, str(scratch), t, z, r, src))
    engine.run(paint_block, paints, scheduler=bcfg.scheduler, workers=bcfg.workers,
               label=f"{name}: labels", verbose=verbose)


def sample_scale(job: ImageJob, sel, predictor: Predictor, icfg: InstanceConfig) -> tuple[float, float | None]:
    """(scale to predict at, object diameter found or None): ``count``'s diameter setting applied
    to a central window of the first plane (at most ``SAMPLE`` px a side, so memory stays bounded;
    ``diameter.choose_scale`` on it, the same rules as in memory), used for every block and plane.
    A slide whose object size changes from place to place needs ``--diameter PX``."""
    if icfg.diameter in (None, "off") or (icfg.diameter == "auto" and not predictor.meta.get("diameter")):
        return job.scale, None
    from ..diameter import choose_scale
    from ..planes import check_finite, model_input
    t, z = sel.planes[0]
    h, w = sel.yx
    y0, x0 = max((h - SAMPLE) // 2, 0), max((w - SAMPLE) // 2, 0)
    plane = sel.plane(t, z)
    native = plane.native(y0, min(y0 + SAMPLE, h), x0, min(x0 + SAMPLE, w))
    x = model_input(native, job.channels, job.params[(t, z)], check_finite(plane.path, native, job.choice.nan))
    # the window (at most SAMPLE px a side) already bounds the search: no pixel cap on top
    _, info, _ = choose_scale(predictor, x, icfg, capped=False)
    return float(info["scale"]), info["diameter"]


def _write_outlines(formats, out: Path, stem: str, tasks, offsets, linked: dict, stacked: bool) -> None:
    """Stream each block's outlines and rows, read once, into the outline file of every format in ``formats``
    with the global (and z-linked) ids; ``stacked``: the image has several planes, so every object says which."""
    import json
    from itertools import zip_longest
    from ..io.object_files import paths, writers
    with writers(paths(out, stem, formats)) as ws:
        for task, off in zip(tasks, offsets[:-1]):
            base = Path(task.scratch) / "rows" / f"{task.t}_{task.z}_{task.index}"
            if not base.with_suffix(".csv").exists():
                continue
            with open(base.with_suffix(".csv"), newline="") as rows, open(base.with_suffix(".geo")) as geo:
                for row, line in zip_longest(csv.reader(rows), geo):
                    if row is None or line is None:
                        raise RuntimeError(f"{base}: outlines and rows differ in number")   # a bug, not bad input
                    values = dict(zip(OBJECT_COLUMNS, row))
                    raw = int(row[0]) + int(off)
                    values["id"] = linked.get(raw, raw)
                    geometry, plane = json.loads(line), ((task.z, task.t) if stacked else (None, None))
                    for w in ws:
                        w.add(geometry, values, *plane)


def _write_table(target: Path, tasks, offsets, linked: dict, file: str, pixel_size, n_t: int,
                 tracks=None) -> list[int]:
    """Stream the scratch rows into ``target`` with global (and linked) ids, each also to ``tracks`` (a
    ``tracks.Tracks``) where given; objects per t."""
    tmp = atomic_target(target)
    ids_per_t: list[set] = [set() for _ in range(n_t)]
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(TABLE_COLUMNS)
            for task, off in zip(tasks, offsets[:-1]):
                rows = Path(task.scratch) / "rows" / f"{task.t}_{task.z}_{task.index}.csv"
                if not rows.exists():
                    continue
                with open(rows, newline="") as src:
                    for row in csv.reader(src):
                        raw = int(row[0]) + int(off)
                        gid = linked.get(raw, raw)
                        ids_per_t[task.t].add(gid)
                        line = [file, task.t, task.z, gid, *row[1:], pixel_size or ""]
                        writer.writerow(line)
                        if tracks is not None:
                            tracks.add(dict(zip(TABLE_COLUMNS, line)))
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return [len(s) for s in ids_per_t]
