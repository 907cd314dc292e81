"""``unetkit count``: predict, split into objects, measure, and write tables and overlays.

Per image: ``NAME_labels.tif`` (16-bit label image) and ``NAME_count.png`` (outlines,
ids and the count); for the set: ``counts.csv`` (file, count), ``objects.csv`` (one row
per object) and ``sizes.png`` (histogram of object areas). Objects are labelled on the
blended full-image probability map, so an object cut by a tile seam is one object.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np

from .config import PredictConfig
from .data.io import write_image, write_text
from .errors import UnetkitError
from .instances import OBJECT_COLUMNS, InstanceConfig, instances_from_probs, measure
from .prediction import Predictor, check_out_dir, collect_inputs
from .progress import Progress

COUNT_SUFFIXES = ("_labels.tif", "_count.png")
TABLES = ("counts.csv", "objects.csv", "sizes.png")


def count(model, inputs, out_dir, *, predict_cfg: PredictConfig | None = None,
          instance_cfg: InstanceConfig | None = None, pixel_size: float | None = None,
          overwrite: bool = False, verbose: bool = True) -> list[dict]:
    """Count objects in every input; returns the rows of counts.csv."""
    from .viz import count_overlay, display_image, size_histogram
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, predict_cfg)
    icfg = instance_cfg or InstanceConfig()
    files = collect_inputs(inputs)
    out = Path(out_dir)
    check_out_dir(out, files, overwrite, COUNT_SUFFIXES)
    for name in TABLES:
        if (out / name).exists() and not overwrite:
            raise UnetkitError(f"{out / name}: already exists from an earlier run; choose another --out or pass --overwrite")
    if pixel_size is not None and pixel_size <= 0:
        raise UnetkitError(f"--pixel-size {pixel_size}: must be a positive length in um per pixel")
    out.mkdir(parents=True, exist_ok=True)
    bar = Progress(len(files), "images", enabled=verbose)
    counts, objects, areas = [], [], {}
    for f in files:
        t0 = time.time()
        native, x = predictor.prepare(f)
        labels = instances_from_probs(predictor.probabilities(x), icfg)
        if labels.max() > np.iinfo(np.uint16).max:
            raise UnetkitError(f"{f}: more than 65535 objects; split the image into parts")
        write_image(out / f"{f.stem}_labels.tif", labels.astype(np.uint16))
        write_image(out / f"{f.stem}_count.png", count_overlay(display_image(native), labels))
        rows = measure(labels, native, pixel_size)
        counts.append({"file": f.name, "count": int(labels.max())})
        objects += [{"file": f.name, **r} for r in rows]
        areas[f.name] = [r["area"] for r in rows]
        bar.step(f"{f.name}: {labels.max()} objects in {time.time() - t0:.2f} s")
    unit = "um^2" if pixel_size else "px"
    write_text(out / "counts.csv", _csv(counts, ["file", "count"]))
    write_text(out / "objects.csv", _csv(objects, ["file", *OBJECT_COLUMNS]))
    size_histogram(areas, out / "sizes.png", unit)
    bar.close(f"counted {sum(c['count'] for c in counts)} objects in {len(files)} images; tables in {out}")
    return counts


def _csv(rows, fields) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()



