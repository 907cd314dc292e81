"""``unetkit count``: predict, split into objects, measure, and write tables and overlays.

Per image: ``NAME_labels.tif`` (16-bit label image), ``NAME_objects.csv`` (one row per
object), the ``outlines`` asked for (``NAME_objects.geojson`` for QuPath, ``NAME_rois.zip`` for
Fiji), and ``NAME_count.png`` (outlines, ids and the count), written last, so an image whose
count picture exists is done. Large planes, z-stacks and time series go block by block (``blocks.labels``):
``NAME_labels.ome.zarr`` (32-bit ids, multiscale) and a preview picture; a tracked time lapse (``--t track``) also
``NAME_tracks.csv`` (``tracks``). For the set: ``counts.csv`` (file, t, count), ``objects.csv`` (every
image's rows, streamed) and ``sizes.png`` (histogram of object areas). Objects are
labelled on the blended probability map, so an object cut by a tile seam is one object.
Physical units come from ``--pixel-size`` or else the file's metadata.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import time
from pathlib import Path

import numpy as np

from .batch import collect_inputs, image_stem, raise_failures, run_batch
from .config import COUNT_TTA, TRACKED, BlockConfig, PredictConfig
from .errors import UnetkitError
from .instances import TABLE_COLUMNS, InstanceConfig, distance_seeds, instance_settings, measure
from .io import is_sequence, open_image, remove_output, write_image, write_text
from .planes import AxisChoice, select
from .prediction import check_out_dir, load_plane, one_plane, plane_input, use_blocks
from .predictor import Predictor
from .progress import Progress, plural

COUNT_SUFFIXES = ("_labels.tif", "_count.png", "_objects.csv", "_labels.ome.zarr", "_objects.geojson", "_rois.zip",
                  "_tracks.csv", "_RES")
TABLES = ("counts.csv", "objects.csv", "sizes.png")


def count(model, inputs, out_dir, *, predict_cfg: PredictConfig | None = None,
          instance_cfg: InstanceConfig | None = None, pixel_size: float | None = None,
          frame_interval: float | None = None, overwrite: bool = False, verbose: bool = True,
          choice: AxisChoice | None = None, blocks: BlockConfig | None = None, axes: str | None = None,
          on_error: str = "skip", skip_existing: bool = False, outlines: tuple = (), ctc: bool = False) -> list[dict]:
    """Count objects in every input; returns the rows of counts.csv (file, t, count). ``outlines``: formats of
    ``io.object_files.FORMATS`` (geojson, imagej) to write every object's outline in. ``pixel_size`` (um) and
    ``frame_interval`` (s) override what each file records. ``ctc``: tracked time lapses (``choice.t`` track or
    lineage) also in the Cell Tracking Challenge's format (``NAME_RES``, ``ctc.py``)."""
    from .io.object_files import paths
    from .viz import size_histogram
    predictor, icfg = counting_predictor(model, predict_cfg, instance_cfg)
    choice, bcfg = choice or AxisChoice(), blocks or BlockConfig()
    files = collect_inputs(inputs, sequences=is_sequence(axes))
    out = Path(out_dir)
    check_count_options(out, files, overwrite, skip_existing, pixel_size, outlines, frame_interval)
    if ctc and choice.t not in TRACKED:
        raise UnetkitError("--ctc writes tracks in the Cell Tracking Challenge's format: pass --t track or lineage")
    if overwrite and not skip_existing:
        clear_earlier_count(out, {image_stem(f) for f in files})
    out.mkdir(parents=True, exist_ok=True)
    from .run_record import RecordWriter, run_record
    record = RecordWriter(out, run_record("count", predictor.spec, files, predict=predictor.cfg, instances=icfg,
                                          axes=axes, planes=choice, blocks=bcfg, pixel_size=pixel_size,
                                          frame_interval=frame_interval, ctc=ctc, outlines=list(outlines)),
                          overwrite and not skip_existing)
    bar = Progress(len(files), "images", enabled=verbose)

    def one(f: Path) -> list[dict]:
        t0 = time.time()
        stem = image_stem(f)
        table = out / f"{stem}_objects.csv"
        if skip_existing and (out / f"{stem}_count.png").exists() and table.exists() and \
                all(p.exists() for p in paths(out, stem, outlines).values()) and \
                (not ctc or (out / f"{stem}_RES").is_dir()):
            bar.step(f"{f.name}: done in an earlier run, skipped")
            return _counts_from_table(table, f.name)
        sel = select(open_image(f, axes), predictor.channels, choice)
        if ctc and sel.data.shape[0] < 2:
            raise UnetkitError(f"{f}: one frame, not a time lapse; --ctc writes tracks (count it without --ctc)")
        size, interval = sel.image.units(pixel_size, frame_interval)
        if use_blocks(sel, bcfg):
            from .blocks.labels import count_image
            record.write()
            rows = count_image(predictor, f, out, stem, choice, bcfg, icfg, size, interval, axes=axes,
                               overwrite=overwrite or skip_existing, verbose=verbose, outlines=outlines, ctc=ctc)
            bar.step(f"{f.name}: {plural(sum(r['count'] for r in rows), 'object')}, {sel.image.describe()} "
                     f"block-wise in {time.time() - t0:.2f} s")
            return rows
        n, said = count_plane(predictor, icfg, f, sel, out, stem, size, choice.nan, outlines, record)
        bar.step(f"{f.name}: {said} in {time.time() - t0:.2f} s")
        return [{"file": f.name, "t": 0, "count": n}]

    results, failures = run_batch(files, one, on_error=on_error)
    counts = [row for rows in results for row in rows]
    done = [f for f in files if f not in {g for g, _ in failures}]
    if not done:   # empty tables would only make the corrected rerun refuse this folder as an earlier run's
        raise_failures(failures, len(files))
    write_text(out / "counts.csv", _csv(counts, ["file", "t", "count"]))
    areas = _concatenate([out / f"{image_stem(f)}_objects.csv" for f in done], out / "objects.csv")
    unit = "um^2" if pixel_size or _any_units(areas) else "px"
    size_histogram({k: [a for a, _ in v] for k, v in areas.items()}, out / "sizes.png", unit)
    bar.close(f"counted {plural(sum(c['count'] for c in counts), 'object')} in {plural(len(done), 'image')}; "
              f"tables in {out}")
    raise_failures(failures, len(files))
    return counts


def check_count_options(out: Path, files: list[Path], overwrite: bool, skip_existing: bool, pixel_size,
                        outlines, frame_interval=None) -> None:
    """Before any image is read: the folder (never over an earlier run's outputs or tables unless asked), the pixel
    size and the outline formats."""
    from .io.object_files import FORMATS
    check_out_dir(out, files, overwrite, COUNT_SUFFIXES, skip_existing)
    for name in TABLES:
        if (out / name).exists() and not (overwrite or skip_existing):
            raise UnetkitError(f"{out / name}: already exists from an earlier run; choose another --out, pass "
                               "--skip-existing to continue that run, or --overwrite")
    if pixel_size is not None and pixel_size <= 0:
        raise UnetkitError(f"--pixel-size {pixel_size}: must be a positive length in um per pixel")
    if frame_interval is not None and not frame_interval > 0:
        raise UnetkitError(f"--frame-interval {frame_interval}: must be a positive time in seconds between frames")
    unknown = set(outlines) - set(FORMATS)
    if unknown:
        raise UnetkitError(f"unknown outline format {sorted(unknown)[0]!r}: use {' or '.join(FORMATS)}")


def count_plane(predictor: Predictor, icfg: InstanceConfig, f: Path, sel, out: Path, stem: str, size,
                nan: str, outlines, record) -> tuple[int, str]:
    """One small 2-D plane counted in memory: NAME_labels.tif, NAME_objects.csv, the outline files, NAME_count.png
    (``record`` written before the first); returns (objects, what the progress line says of them).
    Memory: the plane, its predictions at up to three scales (``diameter.choose_scale``) and its labels."""
    from .diameter import MAX_UPSCALED, count_labels
    from .io.object_files import paths, write_objects
    from .noise import describe
    from .viz import count_overlay, display_image
    native, x, bad = load_plane(predictor, sel, f, nan)
    labels, size_info = count_labels(predictor, x, icfg)
    if bad is not None:
        labels[bad] = 0
    if labels.max() > np.iinfo(np.uint16).max:
        raise UnetkitError(f"{f}: more than 65535 objects; pass --blocks always (32-bit label ids)")
    record.write()   # before the first output: count.yaml says what made them
    write_image(out / f"{stem}_labels.tif", labels.astype(np.uint16))
    objects = [{"file": f.name, "t": 0, "z": 0, **r, "pixel_size_um": size or ""}
               for r in measure(labels, np.nan_to_num(native), size, size_info["scores"])]
    write_text(out / f"{stem}_objects.csv", _csv(objects, TABLE_COLUMNS))
    if outlines:
        write_objects(paths(out, stem, outlines), labels, objects)
    write_image(out / f"{stem}_count.png", count_overlay(display_image(np.nan_to_num(native)), labels))
    found = f", diameter {size_info['diameter']:.3g} px at scale {size_info['scale']:.2f}" \
        if size_info["diameter"] else ""
    smoothing = predictor.smoothing(x, size_info["scale"])
    if smoothing:   # the noise the model never saw (noise.py): say how much was smoothed away
        found += ", " + describe(smoothing)
    if "skipped_above" in size_info:   # the size search was cut short: say so, and how to force a size
        found += (f" (scales from {size_info['skipped_above']:.2f} up skipped: the image would exceed "
                  f"{MAX_UPSCALED / 1e6:.1f} Mpx; pass --diameter PX if the objects are smaller)")
    # the objects --min-score dropped: said, not hidden
    dropped = f" ({size_info['unsure']} under score {icfg.min_score:g} dropped)" if size_info["unsure"] else ""
    n = int(labels.max())
    return n, f"{plural(n, 'object')}{dropped}{found}"


def clear_earlier_count(out: Path, stems: set) -> None:
    """``--overwrite``: remove the outputs of the images the earlier run's counts.csv lists and this run does not
    count (``stems``), so that ``evaluate`` does not score a label image this run did not make. Only what that run
    recorded goes; every other file stays."""
    table = out / "counts.csv"
    if not table.is_file():
        return
    with open(table, newline="") as fh:
        earlier = {image_stem(Path(row["file"])) for row in csv.DictReader(fh) if row.get("file")}
    for stem in sorted(earlier - stems):
        for suffix in COUNT_SUFFIXES:
            remove_output(out / f"{stem}{suffix}")


def counting_predictor(model, predict_cfg: PredictConfig | None = None,
                       instance_cfg: InstanceConfig | None = None) -> tuple[Predictor, InstanceConfig]:
    """(the predictor ``count`` labels with, its instance settings): ``model`` loaded with count's TTA unless given
    as a ``Predictor``, the model's stored count settings unless ``instance_cfg``, and the distance head kept as
    the last channel where it seeds the watershed."""
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, predict_cfg or PredictConfig(tta=COUNT_TTA))
    icfg = instance_cfg or instance_settings(predictor.meta)
    if distance_seeds(predictor.meta, icfg):
        predictor = dataclasses.replace(predictor, heads="all")
    return predictor, icfg


def label_array(model, image: np.ndarray, *, instance_cfg: InstanceConfig | None = None,
                predict_cfg: PredictConfig | None = None, name: str = "image") -> tuple[np.ndarray, dict]:
    """(labels, how the object size was found) of one 2-D image held in memory, gray (H, W) or colour (H, W, 3|4),
    exactly as ``count`` labels a file: the model's normalisation and polarity, the size search, flip TTA, the
    model's count settings under ``instance_cfg``. ``model``: a ``Predictor``, run folder, .keras file or bundled
    name; ``name`` goes into error messages. NaN/inf pixels are refused.
    Memory: the image and its prediction at up to three scales (``diameter.choose_scale``)."""
    from .diameter import count_labels
    predictor, icfg = counting_predictor(model, predict_cfg, instance_cfg)
    return count_labels(predictor, plane_input(predictor, one_plane(image, name), name)[0], icfg)


def _counts_from_table(table: Path, name: str) -> list[dict]:
    """Counts per t of an image finished in an earlier run, from its objects table."""
    ids: dict[int, set] = {}
    with open(table, newline="") as fh:
        for row in csv.DictReader(fh):
            ids.setdefault(int(row["t"]), set()).add(row["id"])
    return [{"file": name, "t": t, "count": len(ids.get(t, ()))} for t in range(max(ids, default=0) + 1)]


def _concatenate(tables: list[Path], target: Path) -> dict:
    """Stream per-image tables into one; returns {file: areas} for the size histogram
    (one float per object: bounded by the object count, not the pixels)."""
    from .io import atomic_target
    tmp = atomic_target(target)
    areas: dict[str, list] = {}
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(TABLE_COLUMNS)
            for table in tables:
                with open(table, newline="") as src:
                    reader = csv.reader(src)
                    header = next(reader)
                    i_area, i_file, i_unit = header.index("area"), header.index("file"), header.index("pixel_size_um")
                    # by name: a table an earlier version wrote (--skip-existing) may lack a newer column
                    where = [header.index(c) if c in header else None for c in TABLE_COLUMNS]
                    for row in reader:
                        writer.writerow(["" if i is None else row[i] for i in where])
                        areas.setdefault(row[i_file], []).append((float(row[i_area]), bool(row[i_unit])))
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return areas


def _any_units(areas: dict) -> bool:
    return any(unit for rows in areas.values() for _, unit in rows)


def _csv(rows, fields) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
