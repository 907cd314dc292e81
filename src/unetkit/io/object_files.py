"""Counted objects as files for the tools people measure in: ``FORMATS`` maps a format to its file suffix and
writer (``geojson``: QuPath detections; ``imagej``: Fiji ROI sets), each fed the outlines of ``outlines``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .geojson import FeatureWriter
from .imagej_rois import RoiZipWriter
from .outlines import OutlineWriter, object_geometries

FORMATS = {"geojson": ("_objects.geojson", FeatureWriter), "imagej": ("_rois.zip", RoiZipWriter)}


def writer(fmt: str, path) -> OutlineWriter:
    return FORMATS[fmt][1](path)


def write_objects(fmt: str, path, labels: np.ndarray, rows: list[dict], z: int | None = None,
                  t: int | None = None) -> Path:
    """``path`` in format ``fmt`` with every object of ``labels``, measured by ``rows`` (matched on their ``id``)."""
    by_id = {int(r["id"]): r for r in rows}
    with writer(fmt, path) as w:
        for i, geometry in object_geometries(labels):
            w.add(geometry, by_id.get(i, {"id": i}), z, t)
    return Path(path)
