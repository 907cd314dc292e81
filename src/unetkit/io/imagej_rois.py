"""Objects as an ImageJ ROI set (``NAME_rois.zip``) for Fiji's ROI Manager (File > Open, or drag it onto Fiji):
one polygon ROI per object piece, with subpixel coordinates (the outline of ``outlines``, pixel centres at +0.5,
as ImageJ reads them), named by the object's id (in a stack also its z-slice and time point, which set the
ROI's hyperstack position). Measurements stay in ``objects.csv``: ImageJ ROIs carry none; Fiji's
Measure recomputes them on the image. Written with roifile (Christoph Gohlke's ImageJ ROI library)."""
from __future__ import annotations

import os
import zipfile

from .outlines import OutlineWriter, rings


class RoiZipWriter(OutlineWriter):
    """A ROI set, one object at a time."""

    def __init__(self, path: str | os.PathLike):
        import roifile   # noqa: F401  (a core dependency: fail here, before any object is written)
        super().__init__(path)
        self.zf = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED)

    def add(self, geometry: dict, row: dict, z: int | None = None, t: int | None = None) -> None:
        """One object; ``z``/``t`` (0-based) place it in a stack, None for a single 2-D image."""
        import numpy as np
        from roifile import ImagejRoi
        stacked = z is not None or t is not None
        base = str(row.get("id", self.n + 1)) + (f" z{z or 0} t{t or 0}" if stacked else "")
        for k, ring in enumerate(rings(geometry)):
            name = base if k == 0 else f"{base} piece {k + 1}"
            points = np.asarray(ring[:-1], np.float64)   # ImageJ closes polygons itself
            roi = ImagejRoi.frompoints(points, name=name, **({"z": z or 0, "t": t or 0} if stacked else {}))
            self.zf.writestr(f"{name}.roi", roi.tobytes())
        self.n += 1

    def _finish(self, complete: bool) -> None:
        self.zf.close()
