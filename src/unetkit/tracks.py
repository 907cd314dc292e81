"""The tracks of a time lapse counted with ``--t track`` or ``lineage``, one row each (``NAME_tracks.csv``), as a
tracker's track table has them: when the object was first and last seen, in how many frames, where it started and
ended, how far it went (straight and along its path), its mean speed per frame, and the track it divided from
(``parent``, 0 for none: ``id``, ``first_t``, ``last_t`` and ``parent`` are the Cell Tracking Challenge's
``res_track.txt`` columns L B E P). Lengths are in the objects table's units (um where the pixel size is known,
else px).

Read from ``NAME_objects.csv``, whose rows come frame by frame (time points in order), so a track's path is summed
as its rows arrive. Memory: one state per track, not the objects.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

TRACK_COLUMNS = ["file", "id", "first_t", "last_t", "frames", "start_y", "start_x", "end_y", "end_x",
                 "displacement", "path_length", "mean_speed_per_frame", "parent", "pixel_size_um"]


def write_tracks(objects_csv: Path, target: Path, parents: dict[int, int] | None = None) -> int:
    """Summarise the tracks of ``objects_csv`` (one image's table) into ``target``, written atomically, with each
    daughter's parent from ``parents`` {track id: parent's id}; returns the number of tracks. An object seen in
    several z-slices of a frame is not expected (tracking takes one plane a frame)."""
    parents = parents or {}
    from .io.write import atomic_target
    state: dict[str, dict] = {}
    with open(objects_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            t, y, x = int(row["t"]), float(row["centroid_y"]), float(row["centroid_x"])
            track = state.get(row["id"])
            if track is None:
                state[row["id"]] = {"file": row["file"], "id": int(row["id"]), "first_t": t, "last_t": t,
                                    "frames": 1, "start_y": y, "start_x": x, "end_y": y, "end_x": x,
                                    "path_length": 0.0, "parent": parents.get(int(row["id"]), 0),
                                    "pixel_size_um": row["pixel_size_um"]}
                continue
            track["path_length"] += math.hypot(y - track["end_y"], x - track["end_x"])
            track.update(last_t=t, frames=track["frames"] + 1, end_y=y, end_x=x)
    tmp = atomic_target(target)
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, TRACK_COLUMNS)
            writer.writeheader()
            for track in sorted(state.values(), key=lambda s: s["id"]):
                steps = track["last_t"] - track["first_t"]
                writer.writerow({**track,
                                 "displacement": math.hypot(track["end_y"] - track["start_y"],
                                                            track["end_x"] - track["start_x"]),
                                 "mean_speed_per_frame": track["path_length"] / steps if steps else 0.0})
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(state)
