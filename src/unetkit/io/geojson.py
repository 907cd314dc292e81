"""Counted objects as GeoJSON for QuPath (File > Import objects, or drag the file onto the image), which also
reads into Python (geopandas, shapely) and GIS tools: one feature per object, a QuPath detection whose outline
is a polygon in the image's pixel coordinates and whose measurements are the object's row of ``objects.csv``.

An outline runs through the centres of the object's edge pixels (OpenCV's contour, as Cellpose's outlines);
QuPath puts a pixel's centre at +0.5, so the coordinates are shifted by half a pixel. An object in more than one
piece is a MultiPolygon. Planes other than the first carry QuPath's ``plane`` (z, t) on the geometry.

``FeatureWriter`` streams features to a temporary file and renames it when closed: memory is one object.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .write import atomic_target


def outline(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> dict:
    """The GeoJSON geometry of one object's ``mask`` (a crop), its top-left pixel at ``offset`` (y, x) in the image."""
    import cv2
    padded = np.pad(mask.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    y0, x0 = offset[0] - 1 + 0.5, offset[1] - 1 + 0.5       # undo the padding, then to pixel centres
    polygons = []
    for c in contours:
        pts = c[:, 0, :].astype(np.float64)
        if len(pts) < 3:   # a line or a dot of pixels: its pixels' square hull, so QuPath gets an area
            lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
            pts = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
        ring = [[round(float(x) + x0, 2), round(float(y) + y0, 2)] for x, y in pts]
        polygons.append([ring + [ring[0]]])
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def object_geometries(labels: np.ndarray, offset: tuple[int, int] = (0, 0)):
    """(id, geometry) of every object of a label image, in id order; ``offset`` places the image's top-left pixel."""
    from scipy import ndimage
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            yield i, outline(labels[box] == i, (offset[0] + box[0].start, offset[1] + box[1].start))


def feature(geometry: dict, row: dict, z: int = 0, t: int = 0) -> dict:
    """A QuPath detection: ``geometry`` with ``row``'s numbers as measurements, named by its id."""
    if z or t:
        geometry = {**geometry, "plane": {"c": -1, "z": int(z), "t": int(t)}}
    numbers = {k: float(v) for k, v in row.items() if _number(v)}
    return {"type": "Feature", "geometry": geometry,
            "properties": {"objectType": "detection", "name": str(row.get("id", "")), "measurements": numbers}}


def _number(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    try:
        return np.isfinite(float(v))
    except (TypeError, ValueError):
        return False


class FeatureWriter:
    """A FeatureCollection written one feature at a time to a temporary name, renamed into place by ``close``
    (``discard`` drops it); as a context manager, closed on success and discarded on an error."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = atomic_target(self.path)
        self.fh = open(self.tmp, "w")
        self.fh.write('{"type": "FeatureCollection", "features": [\n')
        self.n = 0

    def add(self, feat: dict) -> None:
        self.fh.write((",\n" if self.n else "") + json.dumps(feat, separators=(",", ":")))
        self.n += 1

    def close(self) -> Path:
        self.fh.write("\n]}\n")
        self.fh.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.fh.close()
        if self.tmp.exists():
            self.tmp.unlink()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
        return False


def write_objects(path, labels: np.ndarray, rows: list[dict], z: int = 0, t: int = 0) -> Path:
    """``path`` with one feature per object of ``labels``, measured by ``rows`` (matched on their ``id``)."""
    by_id = {int(r["id"]): r for r in rows}
    with FeatureWriter(path) as w:
        for i, geometry in object_geometries(labels):
            w.add(feature(geometry, by_id.get(i, {"id": i}), z, t))
    return Path(path)
