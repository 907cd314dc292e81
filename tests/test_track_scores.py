"""Tracking scores (track_scores.py, `unetkit evaluate --tracks`): frames matched at IoU 0.5, links kept and right,
whole tracks, divisions; a count --t lineage movie scored against its truth from the command line."""
import json

import numpy as np
import pytest
import tifffile
from skimage.draw import disk

from unetkit.cli import main
from unetkit.errors import UnetkitError
from unetkit.track_scores import continuations, frame_matches, read_parents, track_scores

# four frames: A walks through all, B is in frames 0-1, mother M (0-1) divides into D and E (2-3)
PLACES = {"A": [(12, 12), (12, 14), (12, 16), (12, 18)], "B": [(50, 12), (50, 13), None, None],
          "M": [(32, 40), (32, 41), None, None], "D": [None, None, (32, 34), (32, 32)],
          "E": [None, None, (32, 48), (32, 50)]}
RADIUS = {"A": 6, "B": 6, "M": 9, "D": 6, "E": 6}


def movie(ids: dict, changes=None, size=64):
    """(T, Y, X) labels, ``ids`` {name: id}; ``changes`` {(name, t): id} overrides one appearance (0: missed)."""
    out = np.zeros((4, size, size), np.uint32)
    for name, places in PLACES.items():
        for t, centre in enumerate(places):
            value = (changes or {}).get((name, t), ids[name])
            if centre is not None and value:
                out[t][disk(centre, RADIUS[name], shape=(size, size))] = value
    return out


TRUTH = {"A": 1, "B": 2, "M": 3, "D": 4, "E": 5}
FOUND = {"A": 11, "B": 12, "M": 13, "D": 14, "E": 15}   # the same objects under the tracker's own ids


def test_a_perfect_tracking_scores_one_everywhere_and_divisions_are_found():
    truth, pred = movie(TRUTH), movie(FOUND)
    s = track_scores(zip(truth, pred), {4: 3, 5: 3}, {14: 13, 15: 13})
    assert (s.frames, s.true_objects, s.matched, s.detection_f1) == (4, 12, 12, 1.0)
    assert (s.true_links, s.links_kept, s.predicted_links, s.links_right) == (7, 7, 7, 7)
    assert (s.true_tracks, s.tracks_whole, s.true_divisions, s.divisions_found, s.false_divisions) == (5, 5, 1, 1, 0)
    assert frame_matches(truth[2], pred[2]) == {1: 11, 4: 14, 5: 15}
    # no parents on the tracker's side: the division is not scored, not counted as missed
    assert track_scores(zip(truth, pred), {4: 3, 5: 3}, None).true_divisions is None


def test_an_id_switch_costs_one_link_and_a_missed_object_two_a_wrong_lineage_no_division():
    truth = movie(TRUTH)
    switched = movie(FOUND, {("A", 2): 21, ("A", 3): 21})        # A's id changes at frame 2
    s = track_scores(zip(truth, switched))
    assert (s.true_links - s.links_kept, s.predicted_links, s.links_right) == (1, 6, 6)   # 11: 0-1, 21: 2-3
    assert s.tracks_whole == 4 and s.whole_track_share == pytest.approx(0.8)
    missed = movie(FOUND, {("A", 1): 0})                          # A missed in frame 1
    s = track_scores(zip(truth, missed))
    assert s.matched == 11 and s.true_links - s.links_kept == 2
    assert (s.predicted_links, s.links_right) == (6, 6)            # the tracker bridged frame 1: a right link
    # the mother's id went on in one daughter (a track, not a lineage): no division found, one link wrong
    went_on = movie(FOUND, {("D", 2): 13, ("D", 3): 13})
    s = track_scores(zip(truth, went_on), {4: 3, 5: 3}, {15: 13})
    assert (s.divisions_found, s.false_divisions, s.predicted_links - s.links_right) == (0, 0, 1)
    with pytest.raises(UnetkitError, match="frame 0: predicted labels"):
        track_scores(zip(truth, truth[:, :32]))


def test_parents_are_read_from_a_tracks_table_or_the_cell_tracking_challenges_text(tmp_path):
    (tmp_path / "m_tracks.csv").write_text("file,id,first_t,parent\nm,1,0,0\nm,2,2,1\nm,3,2,1\n")
    (tmp_path / "c.txt").write_text("1 0 1 0\n2 2 3 1\n3 2 3 1\n\n")
    assert read_parents(tmp_path, "m") == read_parents(tmp_path, "c") == {2: 1, 3: 1}
    assert read_parents(tmp_path, "none") is None
    (tmp_path / "bad.txt").write_text("1 0 1 0\n2 2 x 1\n")
    with pytest.raises(UnetkitError, match=r"bad.txt: line 2 is not 'L B E P'"):
        read_parents(tmp_path, "bad")


def test_evaluate_tracks_scores_a_counted_lineage_against_its_truth(tmp_path, capsys):
    from test_microscopy import threshold_model
    from unetkit.counting import count
    from unetkit.planes import AxisChoice
    truth = movie(TRUTH)
    (tmp_path / "truth").mkdir()
    tifffile.imwrite(tmp_path / "truth" / "cells.tif", truth.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    (tmp_path / "truth" / "cells.txt").write_text("1 0 3 0\n2 0 1 0\n3 0 1 0\n4 2 3 3\n5 2 3 3\n")
    tifffile.imwrite(tmp_path / "cells.tif", ((truth > 0) * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    count(threshold_model(), [tmp_path / "cells.tif"], tmp_path / "out", verbose=False,
          choice=AxisChoice(t="lineage"))
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "out"), "--truth", str(tmp_path / "truth")]) == 0
    printed = capsys.readouterr().out
    assert "whole tracks 5 of 5, divisions found 1 of 1 (0 false)" in printed
    pooled = json.loads((tmp_path / "out" / "track_evaluation.json").read_text())["pooled"]
    assert pooled["link_recall"] == pooled["link_precision"] == pooled["detection_f1"] == 1.0
    # counted frame by frame, every object is a track of its own: links are lost, nothing is overwritten unasked
    count(threshold_model(), [tmp_path / "cells.tif"], tmp_path / "frames", verbose=False)
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "frames"), "--truth", str(tmp_path / "truth"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "track_evaluation.csv: an evaluation already exists here" in capsys.readouterr().err
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "frames"), "--truth", str(tmp_path / "truth")]) == 0
    pooled = json.loads((tmp_path / "frames" / "track_evaluation.json").read_text())["pooled"]
    assert pooled["links_kept"] == 0 and pooled["tracks_whole"] == 0 and pooled["detection_f1"] == 1.0
    assert pooled["true_divisions"] is None                    # frames name no parents
    assert main(["evaluate", "--tracks", "--instances", "--pred", str(tmp_path / "frames"), "--truth",
                 str(tmp_path / "truth"), "--overwrite"]) == 2
    assert "--tracks scores label movies, --instances label images: pass one" in capsys.readouterr().err


def test_the_cell_tracking_challenges_markers_match_by_their_rule_and_a_gap_is_one_cell():
    """The Challenge's TRA truth marks each cell with a marker smaller than it: its rule (the prediction covers more
    than half of the marker) matches it, IoU 0.5 does not; a prediction covering two markers takes the one it
    covers most of. A parent of one child is the same cell after a gap (its tracks have none), not a division."""
    cell = np.zeros((40, 40), np.uint32)
    cell[disk((20, 20), 10, shape=cell.shape)] = 7
    marker = np.zeros_like(cell)
    marker[disk((20, 20), 3, shape=cell.shape)] = 1
    assert frame_matches(marker, cell) == {} and frame_matches(marker, cell, rule="ctc") == {1: 7}
    two = marker.copy()
    two[disk((20, 8), 3, shape=cell.shape)] = 2                 # half in the cell at most: not covered
    assert frame_matches(two, cell, rule="ctc") == {1: 7}
    with pytest.raises(UnetkitError, match="--match overlap: choose iou or ctc"):
        frame_matches(marker, cell, rule="overlap")
    lut, parents = continuations({2: 1, 5: 2, 6: 2, 9: 8})
    assert lut == {2: 1, 9: 8} and parents == {5: 1, 6: 1}       # 1 went on as 2 after a gap, then divided


def test_a_challenge_sequence_counted_from_its_folder_is_scored_against_its_ground_truth(tmp_path, capsys):
    """The Challenge's layout end to end: frames 01/t000.tif... counted with --sequence t, scored against
    01_GT/TRA (man_track000.tif..., man_track.txt, markers) found by the sequence's name."""
    from test_microscopy import threshold_model
    from unetkit.counting import count
    from unetkit.planes import AxisChoice
    truth = movie(TRUTH)
    (tmp_path / "01").mkdir()
    tra = tmp_path / "01_GT" / "TRA"
    tra.mkdir(parents=True)
    for t, frame in enumerate(truth):
        tifffile.imwrite(tmp_path / "01" / f"t{t:03d}.tif", ((frame > 0) * 1000).astype(np.uint16))
        markers = np.zeros_like(frame, np.uint16)
        for i in np.unique(frame[frame > 0]):
            y, x = np.argwhere(frame == i).mean(0).round().astype(int)
            markers[y - 1:y + 2, x - 1:x + 2] = i
        tifffile.imwrite(tra / f"man_track{t:03d}.tif", markers)
    (tra / "man_track.txt").write_text("1 0 3 0\n2 0 1 0\n3 0 1 0\n4 2 3 3\n5 2 3 3\n")
    count(threshold_model(), [tmp_path / "01"], tmp_path / "out", verbose=False, axes="T:",
          choice=AxisChoice(t="lineage"), ctc=True)
    assert main(["evaluate", "--tracks", "--match", "ctc", "--ctc", "--pred", str(tmp_path / "out"), "--truth",
                 str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "whole tracks 5 of 5, divisions found 1 of 1 (0 false)" in printed
    assert "the Cell Tracking Challenge's measures, mean over the movies: DET 1.000, TRA 1.000" in printed
    got = json.loads((tmp_path / "out" / "track_evaluation.json").read_text())
    assert got["match"] == "ctc" and got["movies"][0]["file"] == "01" and got["pooled"]["detection_f1"] == 1.0
    assert got["movies"][0]["ctc_Valid"] == 1.0 and got["movies"][0]["ctc_BC(0)"] == 1.0   # the division too
    # a track the count lost a frame of: the Challenge's measures fall with it (py-ctcmetrics' own count)
    tifffile.imwrite(tmp_path / "01" / "t001.tif", np.zeros_like(truth[1], np.uint16))
    count(threshold_model(), [tmp_path / "01"], tmp_path / "gap", verbose=False, axes="T:",
          choice=AxisChoice(t="lineage"), ctc=True)
    assert main(["evaluate", "--tracks", "--ctc", "--pred", str(tmp_path / "gap"), "--truth", str(tmp_path)]) == 0
    lost = json.loads((tmp_path / "gap" / "track_evaluation.json").read_text())["movies"][0]
    assert lost["ctc_Valid"] == 1.0 and 0 < lost["ctc_DET"] < 1 and lost["ctc_TRA"] < 1
    count(threshold_model(), [tmp_path / "01"], tmp_path / "nores", verbose=False, axes="T:",
          choice=AxisChoice(t="lineage"))                                 # counted without --ctc: no 01_RES
    assert main(["evaluate", "--tracks", "--ctc", "--pred", str(tmp_path / "nores"), "--truth", str(tmp_path)]) == 2
    assert "01_RES: not there; count the movie with --ctc to write it" in capsys.readouterr().err
    assert main(["evaluate", "--tracks", "--pred", str(tmp_path / "out"), "--truth", str(tra), "--out",
                 str(tmp_path / "iou")]) == 0                       # the TRA folder itself; IoU 0.5 misses markers
    assert json.loads((tmp_path / "iou" / "track_evaluation.json").read_text())["pooled"]["matched"] == 0
    assert "not scored" not in capsys.readouterr().err         # the TRA folder's frames are no movies of their own
    # label movies beside the Challenge's truth folders are truths too
    tifffile.imwrite(tmp_path / "02.tif", truth.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    from unetkit.track_scores import pair_movies
    assert sorted(pair_movies(tmp_path / "out", tmp_path)[1]) == ["01", "02"]
    assert main(["evaluate", "--instances", "--match", "ctc", "--pred", str(tmp_path / "out"), "--truth",
                 str(tra)]) == 2
    assert "--match ctc scores tracks: pass --tracks" in capsys.readouterr().err
    (tmp_path / "movies").mkdir()                                       # label movies are no Challenge truth
    tifffile.imwrite(tmp_path / "movies" / "01.tif", truth.astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    assert main(["evaluate", "--tracks", "--ctc", "--pred", str(tmp_path / "out"), "--truth",
                 str(tmp_path / "movies"), "--overwrite"]) == 2
    assert "01.tif: the Challenge's measures need its ground truth (NN_GT/TRA" in capsys.readouterr().err


def test_movies_that_cannot_be_scored_are_refused_with_the_file_and_the_reason(tmp_path, capsys):
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir(), pred.mkdir()
    tifffile.imwrite(pred / "cells_labels.tif", movie(FOUND).astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(truth / "other.tif", movie(TRUTH).astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    args = ["evaluate", "--tracks", "--pred", str(pred), "--truth", str(truth)]
    assert main(args) == 2
    assert "no NAME_labels movie ('unetkit count --t track' or lineage) matches a truth" in capsys.readouterr().err
    tifffile.imwrite(truth / "cells.tif", movie(TRUTH)[:3].astype(np.uint16), imagej=True, metadata={"axes": "TYX"})
    assert main(args) == 2                                        # three frames against the movie's four
    assert ("cells_labels.tif: 4 T x 64 Y x 64 X (uint16) against its truth's 3 T x 64 Y x 64 X (uint16); score "
            "the movie it was counted from") in capsys.readouterr().err
    stack = np.stack([movie(TRUTH)] * 2, axis=1).astype(np.uint16)
    tifffile.imwrite(truth / "cells.tif", stack, imagej=True, metadata={"axes": "TZYX"})
    assert main(args) == 2                                        # a z-stack a frame is not a label movie
    assert "cells.tif: a 4 T x 2 Z x 64 Y x 64 X (uint16) image; tracks are scored on label movies" in \
        capsys.readouterr().err
    assert not (pred / "track_evaluation.csv").exists()
    (tmp_path / "m_tracks.csv").write_text("file,track,mother\nm,1,0\n")
    with pytest.raises(UnetkitError, match=r"m_tracks.csv: a tracks table needs id and parent columns"):
        read_parents(tmp_path, "m")


def test_a_lineage_of_a_z_stack_over_time_is_refused_unless_projected(tmp_path):
    from unetkit.io import open_image
    from unetkit.planes import AxisChoice, select
    tifffile.imwrite(tmp_path / "tz.tif", np.zeros((3, 2, 32, 32), np.uint16), imagej=True,
                     metadata={"axes": "TZYX"})
    with pytest.raises(UnetkitError, match=r"tz.tif: --t lineage links the objects of one plane from frame to "
                                           r"frame, and this time series has 2 slices a frame; pass --z max"):
        select(open_image(tmp_path / "tz.tif"), 1, AxisChoice(t="lineage", z="slices"))
    assert select(open_image(tmp_path / "tz.tif"), 1, AxisChoice(t="lineage", z="max")).t_mode == "lineage"
