"""The Cell Tracking Challenge's result format (ctc.py): tracks cut at their bridged gaps, parents, 16-bit labels."""
import numpy as np
import pytest
import tifffile

from unetkit.ctc import MAX_LABEL, Stretch, stretches, write_ctc
from unetkit.errors import UnetkitError


def test_a_track_bridged_across_a_gap_becomes_two_and_daughters_name_their_mothers_last_stretch():
    runs = {1: [[0, 1], [3, 4]], 2: [[0, 2]], 5: [[3, 4]], 6: [[3, 4]]}
    got = stretches(runs, {5: 2, 6: 2})
    assert got == [Stretch(1, 0, 1, 0, 1), Stretch(2, 3, 4, 1, 1),      # the gap's return: the old track's child
                   Stretch(3, 0, 2, 0, 2), Stretch(4, 3, 4, 3, 5), Stretch(5, 3, 4, 3, 6)]
    # a mother bridged before she divided: her daughters' parent is the stretch she divided from
    assert [s.parent for s in stretches({1: [[0, 0], [2, 3]], 4: [[4, 5]]}, {4: 1})] == [0, 1, 2]
    with pytest.raises(UnetkitError, match=f"the Challenge's 16-bit masks hold at most {MAX_LABEL}"):
        stretches({i: [[0, 0]] for i in range(1, MAX_LABEL + 2)}, {})


def test_write_ctc_numbers_masks_from_the_tracks_and_refuses_an_id_of_no_track(tmp_path):
    movie = np.zeros((3, 8, 8), np.uint32)
    movie[:, 1:3, 1:3] = 70000                     # a 32-bit track id: label 2 in the 16-bit masks (by id order)
    movie[2, 5:7, 5:7] = 9
    runs = {70000: [[0, 2]], 9: [[2, 2]]}
    assert write_ctc(tmp_path / "a_RES", 3, lambda t: movie[t], runs, {}) == 2
    masks = [tifffile.imread(tmp_path / "a_RES" / f"mask{t:03d}.tif") for t in range(3)]
    assert all(m.dtype == np.uint16 for m in masks) and masks[0][1, 1] == 2 and masks[2][5, 5] == 1
    assert (tmp_path / "a_RES" / "res_track.txt").read_text() == "1 2 2 0\n2 0 2 0\n"
    movie[1, 6, 6] = 12                            # an object no track holds
    with pytest.raises(UnetkitError, match=r"b_RES: frame 1 holds ids \[12\] of no track"):
        write_ctc(tmp_path / "b_RES", 3, lambda t: movie[t], runs, {})
    assert not (tmp_path / "b_RES").exists() and len(list(tmp_path.iterdir())) == 1   # nothing half-written
    with pytest.raises(FileExistsError):           # an earlier result stays unless asked
        write_ctc(tmp_path / "a_RES", 3, lambda t: movie[t] * (movie[t] != 12), runs, {})
