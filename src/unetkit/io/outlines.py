"""Counted objects' outlines, traced once for every file format (``object_files``), and the writers' contract.

An outline runs through the centres of the object's edge pixels (OpenCV's contour, as Cellpose's outlines), in
the image's pixel coordinates with a pixel's centre at +0.5 (QuPath's and ImageJ's subpixel convention), as a
GeoJSON geometry: an object in more than one piece has one ring per piece (a MultiPolygon).
"""
from __future__ import annotations

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
        if len(pts) < 3:   # a line or a dot of pixels: its pixels' square hull, so the outline has an area
            lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
            pts = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
        ring = [[round(float(x) + x0, 2), round(float(y) + y0, 2)] for x, y in pts]
        polygons.append([ring + [ring[0]]])
    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": polygons[0]}
    return {"type": "MultiPolygon", "coordinates": polygons}


def rings(geometry: dict) -> list[list]:
    """The outer ring of each piece of a Polygon or MultiPolygon geometry."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    return [polygon[0] for polygon in geometry["coordinates"]]


def object_geometries(labels: np.ndarray, offset: tuple[int, int] = (0, 0)):
    """(id, geometry) of every object of a label image, in id order; ``offset`` places the image's top-left pixel."""
    from scipy import ndimage
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            yield i, outline(labels[box] == i, (offset[0] + box[0].start, offset[1] + box[1].start))


class OutlineWriter:
    """A file of outlines written one object at a time (``add(geometry, row, z, t)``; z and t None for a single
    2-D image) to a temporary name, renamed into place by ``close`` (``discard`` drops it); as a context manager,
    closed on success and discarded on an error. Memory: one object. Formats implement ``add`` and ``_finish``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = atomic_target(self.path)
        self.n = 0

    def add(self, geometry: dict, row: dict, z: int | None = None, t: int | None = None) -> None:
        raise NotImplementedError

    def _finish(self, complete: bool) -> None:
        """Close the temporary file; ``complete``: it will be kept (write what ends the format)."""
        raise NotImplementedError

    def close(self) -> Path:
        self._finish(True)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self._finish(False)
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
        return False
