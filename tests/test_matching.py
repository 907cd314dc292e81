"""Instance matching on synthetic disks whose answer is known."""
import numpy as np
import pytest
from skimage.draw import disk

from unetkit.matching import count_error, iou_matrix, matching, matching_dataset


def disks(centers, r=6, shape=(64, 64)):
    lab = np.zeros(shape, np.int32)
    for i, c in enumerate(centers, 1):
        lab[disk(c, r, shape=shape)] = i
    return lab


TRUE = disks([(10, 10), (10, 40), (40, 10), (40, 40)])


def test_perfect_prediction_with_shuffled_ids():
    pred = TRUE.copy()
    pred[TRUE == 1], pred[TRUE == 4] = 4, 1
    m = matching(TRUE, pred, [0.5, 0.9])
    for s in m:
        assert (s.tp, s.fp, s.fn) == (4, 0, 0)
        assert s.f1 == 1.0 and s.panoptic_quality == pytest.approx(1.0)


def test_missed_extra_and_shifted_objects():
    pred = disks([(10, 10), (10, 40), (40, 12), (55, 55)])  # 2 exact, 1 shifted by 2 px, 1 spurious
    iou = iou_matrix(TRUE, pred)
    assert iou.shape == (4, 4)
    shifted = iou[2, 2]
    assert 0.5 < shifted < 0.9
    m50, m90 = matching(TRUE, pred, [0.5, 0.9])
    assert (m50.tp, m50.fp, m50.fn) == (3, 1, 1)
    assert m50.precision == 0.75 and m50.recall == 0.75 and m50.accuracy == pytest.approx(3 / 5)
    assert m50.panoptic_quality == pytest.approx((2 + shifted) / (3 + 0.5 + 0.5))
    assert (m90.tp, m90.fp, m90.fn) == (2, 2, 2)


def test_merged_pair_counts_one_match_only():
    merged = TRUE.copy()
    merged[TRUE == 2] = 1
    merged[8:13, 10:41] = 1  # a bridge: one big object over two true disks
    m = matching(TRUE, merged, [0.3])[0]
    assert m.n_pred == 3 and m.tp <= 3 and m.fn >= 1


def test_pooled_sums_counts_before_ratios():
    a = matching_dataset([(TRUE, TRUE), (TRUE, np.zeros_like(TRUE))], [0.5])[0]
    assert (a.tp, a.fp, a.fn) == (4, 0, 4)
    assert a.recall == 0.5 and a.precision == 1.0


def test_empty_images():
    empty = np.zeros((8, 8), np.int32)
    m = matching(empty, empty, [0.5])[0]
    assert (m.tp, m.fp, m.fn, m.n_true) == (0, 0, 0, 0) and np.isnan(m.f1)
    assert count_error(4, 5) == (1, 0.25)
    assert np.isnan(count_error(0, 2)[1])


def test_gaps_in_ids_do_not_matter():
    gappy = TRUE.copy()
    for old, new in [(1, 3), (2, 70), (3, 200), (4, 65535)]:
        gappy[TRUE == old] = new
    a = matching(TRUE, gappy, [0.5])[0]
    b = matching(gappy, TRUE, [0.5])[0]
    assert (a.tp, a.fp, a.fn) == (b.tp, b.fp, b.fn) == (4, 0, 0)


def test_error_kinds_name_each_unmatched_object():
    """Four true disks, each failed a different way, and one prediction where the truth has none."""
    from unetkit.error_kinds import error_kinds
    truth = disks([(10, 10), (10, 24), (40, 10), (40, 40), (12, 52)], r=6)   # the first two touch nearly
    cols = np.arange(64)[None, :]
    pred = np.zeros_like(truth)
    pred[3:18, 3:31] = 1                                        # merged: one box over true 1 and 2 (IoU ~0.3 each)
    pred[(truth == 3) & (cols < 8)] = 2                         # split: true 3 cut in three pieces
    pred[(truth == 3) & (cols >= 8) & (cols < 12)] = 3
    pred[(truth == 3) & (cols >= 12)] = 4
    # true 4 missed; true 5 found but outlined as a much larger disk (IoU 0.36, most of it background)
    pred[disks([(12, 52)], r=10) > 0] = 5
    pred[disks([(56, 56)], r=4) > 0] = 6                        # on background
    k = error_kinds(truth, pred, 0.5)
    assert (k.merged, k.split, k.missed, k.shape) == (2, 1, 1, 1)
    assert (k.fragment, k.false) == (4, 2)     # the box and three pieces lie on truth; the large disk and the last not
    m = matching(truth, pred, [0.5])[0]                         # every unmatched object gets exactly one kind
    assert k.merged + k.split + k.missed + k.shape == m.fn and k.fragment + k.false == m.fp
