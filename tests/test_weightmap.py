import numpy as np
import pytest
from skimage.draw import disk

from unetkit.data.weightmap import border_weight_map, class_weights, objects_of, two_nearest_distances


def _two_disks(gap):
    lab = np.zeros((64, 96), np.int32)
    lab[disk((32, 30), 12)] = 1
    lab[disk((32, 30 + 24 + gap), 12)] = 2
    return lab


def test_distances_to_the_two_nearest_objects():
    lab = _two_disks(gap=4)
    d1, d2 = two_nearest_distances(lab, reach=40)
    # on the centre row the disks span columns 19..41 and 47..69: column 44 is 3 px from both
    assert (lab[32, 41], lab[32, 42], lab[32, 46], lab[32, 47]) == (1, 0, 0, 2)
    assert d1[32, 44] == 3.0 and d2[32, 44] == 3.0
    assert d1[32, 42] == 1.0 and d2[32, 42] == 5.0
    assert d1[32, 30] == 0


def test_border_term_is_high_between_touching_objects_and_low_far_away():
    lab = _two_disks(gap=2)
    labels = (lab > 0).astype(np.uint8)
    w = border_weight_map(labels, lab, np.array([1.0, 1.0], np.float32), w0=10, sigma=5)
    between, far = w[32, 30 + 12 + 1], w[2, 2]
    assert between > 8 and far < 1.01
    # inside objects only w_c applies
    assert w[32, 30] == 1.0


def test_class_weights_balance_frequencies():
    lab = np.zeros((10, 10), np.uint8)
    lab[:2] = 1  # 20% foreground
    w = class_weights([lab], 2)
    assert w[1] / w[0] == 4.0


def test_objects_of_binary_mask():
    lab = _two_disks(gap=3)
    assert objects_of(lab > 0).max() == 2


def test_class_balance_switch():
    from unetkit.config import RunConfig
    from unetkit.data.sampling import Sample
    from unetkit.training_data import add_weight_maps
    lab = _two_disks(gap=2)
    s = Sample("a", np.zeros(lab.shape + (1,), np.float32), (lab > 0).astype(np.uint8), lab)
    cfg = RunConfig()
    add_weight_maps([s], [], cfg)
    assert s.weights[32, 30] != 1.0  # inside a disk: w_c of a minority/majority class
    cfg.train.class_balance = False
    add_weight_maps([s], [], cfg)
    assert s.weights[32, 30] == 1.0 and s.weights[2, 2] == pytest.approx(1.0, abs=0.01)
    assert s.weights[32, 30 + 12 + 1] > 8


def test_contacts_weigh_where_objects_meet_without_a_gap():
    from unetkit.data.weightmap import contact_pixels
    lab = _two_disks(gap=-4)               # overlapping disks: the later label wins, they meet pixel to pixel
    touching = contact_pixels(lab)
    assert touching.any() and (lab[touching] > 0).all()
    assert not touching[32, 30] and not touching[2, 2]      # a centre and the background are no contact
    labels = (lab > 0).astype(np.uint8)
    ones = np.array([1.0, 1.0], np.float32)
    plain = border_weight_map(labels, lab, ones, w0=10, sigma=5)
    weighted = border_weight_map(labels, lab, ones, w0=10, sigma=5, contacts=True)
    assert (plain[touching] == 1.0).all()          # the paper's term leaves the meeting line at weight 1
    assert (weighted[touching] > 8).all()          # contacts: weighted like a one-pixel gap
    assert np.array_equal(weighted[~touching], plain[~touching])
