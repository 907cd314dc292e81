"""`unetkit track` (track_labels.py): label movies segmented elsewhere, each frame numbered 1..N as Cellpose and
StarDist number them, linked by count's rules into tracks, lineages and the Cell Tracking Challenge's format; bad
movies refused with the file and what to pass, nothing half-written."""
import csv
import json

import numpy as np
import pytest
import tifffile

from test_track_scores import TRUTH, movie
from unetkit.cli import main
from unetkit.errors import UnetkitError
from unetkit.io import open_image
from unetkit.track_labels import track_labels


def per_frame(labels: np.ndarray) -> np.ndarray:
    """Each frame's objects numbered 1..N (in reverse of their track ids, so no id carries a track by chance)."""
    out = np.zeros(labels.shape, np.uint16)
    for t, frame in enumerate(labels):
        for k, i in enumerate(np.unique(frame[frame > 0])[::-1]):
            out[t][frame == i] = k + 1
    return out


def test_a_movie_numbered_frame_by_frame_is_tracked_into_a_lineage_and_scored_perfect(tmp_path, capsys):
    truth = movie(TRUTH)
    tifffile.imwrite(tmp_path / "cells.tif", per_frame(truth), imagej=True, metadata={"axes": "TYX", "finterval": 60})
    (tmp_path / "truth").mkdir()
    tifffile.imwrite(tmp_path / "truth" / "cells.tif", truth.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    (tmp_path / "truth" / "cells.txt").write_text("1 0 3 0\n2 0 1 0\n3 0 1 0\n4 2 3 3\n5 2 3 3\n")
    assert main(["track", str(tmp_path / "cells.tif"), "--out", str(tmp_path / "out"), "--t", "lineage", "--ctc",
                 "--quiet"]) == 0
    with open(tmp_path / "out" / "cells_tracks.csv") as fh:
        tracks = list(csv.DictReader(fh))
    assert len(tracks) == 5 and sorted(r["parent"] for r in tracks).count("0") == 3
    assert {float(r["frame_interval_s"]) for r in tracks} == {60.0}      # the file's frame interval
    labels = np.asarray(open_image(tmp_path / "out" / "cells_labels.ome.zarr").data[:, 0, 0])
    assert len(np.unique(labels[labels > 0])) == 5
    assert (tmp_path / "out" / "cells_RES" / "res_track.txt").read_text().count("\n") == 5
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "out"), "--truth", str(tmp_path / "truth")]) == 0
    assert "whole tracks 5 of 5, divisions found 1 of 1 (0 false)" in capsys.readouterr().out
    pooled = json.loads((tmp_path / "out" / "track_evaluation.json").read_text())["pooled"]
    assert pooled["link_recall"] == pooled["link_precision"] == 1.0
    # the same masks one file a frame (the Challenge's mask000.tif...): the same tracks
    (tmp_path / "01").mkdir()
    for t, frame in enumerate(per_frame(truth)):
        tifffile.imwrite(tmp_path / "01" / f"mask{t:03d}.tif", frame)
    import unetkit
    got = unetkit.track(tmp_path / "01", tmp_path / "seq", mode="lineage", axes="T:", verbose=False)   # the API
    assert got == [{"file": "01", "frames": 4, "objects": 12, "tracks": 5, "divisions": 1}]
    # count's own labels, tracked again: named as count named them, so they pair with the truth by name
    assert main(["track", str(tmp_path / "out" / "cells_labels.ome.zarr"), "--out", str(tmp_path / "again"),
                 "--t", "lineage", "--quiet"]) == 0
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "again"), "--truth", str(tmp_path / "truth")]) == 0
    assert "whole tracks 5 of 5, divisions found 1 of 1 (0 false)" in capsys.readouterr().out


def test_what_is_no_label_movie_is_refused_and_nothing_is_left_half_written(tmp_path, capsys):
    truth = per_frame(movie(TRUTH))
    tifffile.imwrite(tmp_path / "prob.tif", truth.astype(np.float32) / 5, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tmp_path / "one.tif", truth[0])
    bad = truth.astype(np.int16)
    bad[3, 0, 0] = -1
    tifffile.imwrite(tmp_path / "neg.tif", bad, imagej=True, metadata={"axes": "TYX"})
    for name, message in (("prob.tif", "float32 values; a label movie holds whole numbers"),
                          ("one.tif", r"not a time lapse; name its time axis \(--axes TYX\)"),
                          ("neg.tif", "frame 3 holds negative values")):
        with pytest.raises(UnetkitError, match=message):
            track_labels([tmp_path / name], tmp_path / "out", verbose=False, on_error="stop")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["track.yaml"]   # neg's frames 0-2 written, removed
    tifffile.imwrite(tmp_path / "two.tif", np.stack([truth, truth], 1), imagej=True, metadata={"axes": "TCYX"})
    with pytest.raises(UnetkitError, match=r"two.tif: .*; a label movie has one plane a frame \(T, Y, X\)"):
        track_labels([tmp_path / "two.tif"], tmp_path / "out", verbose=False, on_error="stop")
    with pytest.raises(UnetkitError, match="--t frames: choose track or lineage"):
        track_labels([tmp_path / "neg.tif"], tmp_path / "x", mode="frames", verbose=False)
    assert main(["track", str(tmp_path / "neg.tif"), "--out", str(tmp_path / "o2"), "--frame-interval", "-5"]) == 2
    assert "--frame-interval -5.0: must be a positive number of seconds between frames" in capsys.readouterr().err
