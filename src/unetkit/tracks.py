"""The tracks of a time lapse counted with ``--t track`` or ``lineage``, one row each (``NAME_tracks.csv``), as a
tracker's track table has them: when the object was first and last seen, in how many frames, where it started and
ended, how far it went (straight and along its path), its mean speed per frame, and the track it divided from
(``parent``, 0 for none: ``id``, ``first_t``, ``last_t`` and ``parent`` are the Cell Tracking Challenge's
``res_track.txt`` columns L B E P). Lengths are in the objects table's units (um where the pixel size is known,
else px); where the time between frames is known (the file's metadata or ``--frame-interval``), ``duration_min``
and ``mean_speed_per_min`` give the track in minutes, else they are empty.

Summed from the rows of ``NAME_objects.csv`` as they are streamed (frame by frame, time points in order), so a
track's path is summed as its rows arrive and the table is never read back. Memory: one state per track, not the
objects.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

TRACK_COLUMNS = ["file", "id", "first_t", "last_t", "frames", "start_y", "start_x", "end_y", "end_x",
                 "displacement", "path_length", "mean_speed_per_frame", "duration_min", "mean_speed_per_min", "parent",
                 "pixel_size_um", "frame_interval_s"]


class Tracks:
    """The track table of one image, summed as its objects' rows arrive frame by frame (``add``, from the stream
    that writes ``NAME_objects.csv``), with each daughter's parent from ``parents`` {track id: parent's id} and
    ``frame_interval`` the seconds between frames (None: unknown).
    An object seen in several z-slices of a frame is not expected (tracking takes one plane a frame)."""

    def __init__(self, parents: dict[int, int] | None = None, frame_interval: float | None = None):
        self.parents = parents or {}
        self.frame_interval = frame_interval
        self.state: dict[int, dict] = {}
        self.runs: dict[int, list[list[int]]] = {}   # id -> [first, last] frame of each stretch without a gap

    def add(self, row: dict) -> None:
        """One object's row of the objects table (file, t, id, centroid_y, centroid_x, pixel_size_um, ...)."""
        t, y, x, i = int(row["t"]), float(row["centroid_y"]), float(row["centroid_x"]), int(row["id"])
        track = self.state.get(i)
        if track is None:
            self.state[i] = {"file": row["file"], "id": i, "first_t": t, "last_t": t, "frames": 1, "start_y": y,
                             "start_x": x, "end_y": y, "end_x": x, "path_length": 0.0,
                             "parent": self.parents.get(i, 0), "pixel_size_um": row["pixel_size_um"]}
            self.runs[i] = [[t, t]]
            return
        track["path_length"] += math.hypot(y - track["end_y"], x - track["end_x"])
        track.update(last_t=t, frames=track["frames"] + 1, end_y=y, end_x=x)
        run = self.runs[i][-1]
        if t == run[1] + 1:
            run[1] = t
        else:   # a frame bridged: the track goes on after a gap
            self.runs[i].append([t, t])

    def write(self, target: Path) -> int:
        """``target`` (``NAME_tracks.csv``), written atomically; returns the number of tracks."""
        from .io.write import atomic_target
        tmp = atomic_target(target)
        try:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, TRACK_COLUMNS)
                writer.writeheader()
                for track in sorted(self.state.values(), key=lambda s: s["id"]):
                    writer.writerow({**track, **self._derived(track)})
            tmp.replace(target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return len(self.state)

    def _derived(self, track: dict) -> dict:
        """The columns summed state implies: straight displacement, speeds, duration (steps between first and last
        frame: a track seen in one frame has lasted 0 and moved at 0)."""
        steps = track["last_t"] - track["first_t"]
        row = {"displacement": math.hypot(track["end_y"] - track["start_y"], track["end_x"] - track["start_x"]),
               "mean_speed_per_frame": track["path_length"] / steps if steps else 0.0,
               "duration_min": "", "mean_speed_per_min": "", "frame_interval_s": self.frame_interval or ""}
        if self.frame_interval:
            minutes = steps * self.frame_interval / 60.0
            row.update(duration_min=minutes, mean_speed_per_min=track["path_length"] / minutes if steps else 0.0)
        return row
