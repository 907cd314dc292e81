"""Objects as GeoJSON for QuPath (File > Import objects, or drag the file onto the image), which Python (geopandas,
shapely) and GIS tools read too: one feature per object, a QuPath detection with the outline of ``outlines`` and
the object's row of ``objects.csv`` as its measurements; planes other than the first carry QuPath's ``plane``."""
from __future__ import annotations

import json
import os

import numpy as np

from .outlines import OutlineWriter


def feature(geometry: dict, row: dict, z: int | None = None, t: int | None = None) -> dict:
    """A QuPath detection: ``geometry`` with ``row``'s numbers as measurements, named by its id; a plane other than
    QuPath's default (z 0, t 0) goes on the geometry."""
    if z or t:
        geometry = {**geometry, "plane": {"c": -1, "z": int(z), "t": int(t)}}
    numbers = {k: float(v) for k, v in row.items() if _number(v)}
    return {"type": "Feature", "geometry": geometry,
            "properties": {"objectType": "detection", "name": str(row.get("id", "")), "measurements": numbers}}


def _number(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


class FeatureWriter(OutlineWriter):
    """A FeatureCollection, one object at a time."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.fh = open(self.tmp, "w")
        self.fh.write('{"type": "FeatureCollection", "features": [\n')

    def add(self, geometry: dict, row: dict, z: int | None = None, t: int | None = None) -> None:
        self.fh.write((",\n" if self.n else "") + json.dumps(feature(geometry, row, z, t), separators=(",", ":")))
        self.n += 1

    def _finish(self, complete: bool) -> None:
        if complete:
            self.fh.write("\n]}\n")
        self.fh.close()
