"""Masks to objects, on synthetic disks whose count is known."""
import numpy as np
import pytest
from skimage.draw import disk

from unetkit.data.targets import boundary_classes
from unetkit.errors import UnetkitError
from unetkit.instances import InstanceConfig, instances_from_probs, measure


def touching_disks():
    """Three pairs of overlapping disks (6 objects) plus one lone disk: 7 objects, 4 blobs."""
    lab = np.zeros((128, 160), np.int32)
    k = 0
    for cy, cx in [(30, 30), (30, 100), (95, 40)]:
        for dx in (0, 22):
            k += 1
            lab[disk((cy, cx + dx), 13, shape=lab.shape)] = k
    lab[disk((95, 120), 12, shape=lab.shape)] = k + 1
    return lab


def test_default_split_counts_touching_disks_exactly_and_components_merge_them():
    lab = touching_disks()
    probs = (lab > 0).astype(np.float32)[..., None]
    split = instances_from_probs(probs)
    merged = instances_from_probs(probs, InstanceConfig(split="components"))
    assert split.max() == 7
    assert merged.max() == 4
    canny = instances_from_probs(probs, InstanceConfig(split="canny"))
    assert canny.max() == 4  # the seeds' contour count merges them too


def test_boundary_model_output_splits_by_interiors():
    lab = touching_disks()
    cls = boundary_classes(lab)
    probs = np.eye(3, dtype=np.float32)[cls]
    out = instances_from_probs(probs)
    assert out.max() == 7
    # the objects are the true ones up to id and a thin rim
    for i in range(1, 8):
        ious = [((out == j) & (lab == i)).sum() / ((out == j) | (lab == i)).sum() for j in range(1, 8)]
        assert max(ious) > 0.8


def test_small_objects_and_holes():
    mask = np.zeros((64, 64), np.float32)
    mask[disk((30, 30), 12)] = 1
    mask[30, 30] = 0  # a one-pixel hole
    mask[5:7, 5:7] = 1  # a 4 px speck
    out = instances_from_probs(mask[..., None], InstanceConfig(min_size=10))
    assert out.max() == 1 and out[30, 30] == 1


def test_empty_and_full_images():
    assert instances_from_probs(np.zeros((32, 32, 1), np.float32)).max() == 0
    full = instances_from_probs(np.ones((32, 32, 1), np.float32))
    assert full.max() >= 1 and (full > 0).all()


def test_unknown_method():
    with pytest.raises(UnetkitError, match="unknown split method 'magic'"):
        instances_from_probs(np.zeros((8, 8, 1)), InstanceConfig(split="magic"))


def test_measurements_match_the_label_image_and_pixel_size():
    lab = touching_disks()
    img = np.full(lab.shape, 7, np.uint8)
    rows = measure(lab, img)
    assert [r["id"] for r in rows] == list(range(1, 8))
    assert [r["area"] for r in rows] == [float((lab == i).sum()) for i in range(1, 8)]
    assert all(r["mean_intensity"] == 7 for r in rows)
    um = measure(lab, img, pixel_size=0.5)
    assert um[0]["area"] == pytest.approx(rows[0]["area"] * 0.25)
    assert um[0]["equivalent_diameter"] == pytest.approx(rows[0]["equivalent_diameter"] * 0.5)
