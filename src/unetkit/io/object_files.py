"""Counted objects as files for the tools people measure in: ``FORMATS`` maps a format to its file suffix and
writer (``geojson``: QuPath detections; ``imagej``: Fiji ROI sets), all fed in one pass from the outlines of
``outlines`` (each object traced once, whatever the number of formats)."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from .geojson import FeatureWriter
from .imagej_rois import RoiZipWriter
from .outlines import object_geometries

FORMATS = {"geojson": ("_objects.geojson", FeatureWriter), "imagej": ("_rois.zip", RoiZipWriter)}


def paths(folder: Path, stem: str, formats) -> dict[str, Path]:
    """Each format's file for the image ``stem`` in ``folder``."""
    return {fmt: Path(folder) / f"{stem}{FORMATS[fmt][0]}" for fmt in formats}


@contextmanager
def writers(targets: dict[str, Path]):
    """One open writer per format in ``targets``: every file kept when the block ends, none on an error."""
    with ExitStack() as stack:
        yield [stack.enter_context(FORMATS[fmt][1](path)) for fmt, path in targets.items()]


def write_objects(targets: dict[str, Path], labels: np.ndarray, rows: list[dict], z: int | None = None,
                  t: int | None = None) -> None:
    """Every object of ``labels``, measured by ``rows`` (matched on their ``id``), to each format's file."""
    by_id = {int(r["id"]): r for r in rows}
    with writers(targets) as ws:
        for i, geometry in object_geometries(labels):
            for w in ws:
                w.add(geometry, by_id.get(i, {"id": i}), z, t)

