import numpy as np

from unetkit.data.augment import AugmentConfig, elastic_field, intensity, remap, sampling_map
from unetkit.data.sampling import PatchDataset, Sample, TileDataset
from unetkit.data.synthetic import random_cells


def _warp_pair(seed, cfg):
    img_u8, lab = random_cells(128, 10, rng=np.random.default_rng(seed))
    labels = (lab > 0).astype(np.uint8)
    image = labels.astype(np.float32)[..., None]  # image == mask, so alignment is checkable
    rng = np.random.default_rng(seed)
    mx, my = sampling_map((96, 96), (64, 64), cfg, rng)
    return remap(image, mx, my, nearest=False)[..., 0], remap(labels, mx, my, nearest=True)


def test_image_and_mask_stay_aligned_under_every_transform():
    cfg = AugmentConfig(elastic_prob=1.0, brightness=0, contrast=0, gamma=0, noise=0)
    for seed in range(5):
        img, lab = _warp_pair(seed, cfg)
        agree = ((img > 0.5) == (lab > 0)).mean()
        assert agree > 0.99, agree
        assert set(np.unique(lab)) <= {0, 1}  # nearest neighbour: no blended labels


def test_a_misaligned_warp_would_be_caught():
    # the check above has teeth: shifting the mask by 3 px breaks the agreement
    cfg = AugmentConfig(elastic_prob=0.0)
    img, lab = _warp_pair(0, cfg)
    assert ((img > 0.5) == (np.roll(lab, 3, axis=1) > 0)).mean() < 0.97


def test_disabled_augmentation_is_an_exact_crop():
    arr = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    mx, my = sampling_map((10, 10), (54.5, 44.5), AugmentConfig(enabled=False), np.random.default_rng(0))
    np.testing.assert_array_equal(remap(arr, mx, my, nearest=True), arr[50:60, 40:50])


def test_elastic_field_is_smooth_with_the_paper_sigma():
    dy, dx = elastic_field((256, 256), 10.0, 3, np.random.default_rng(0))
    assert 2 < np.abs(dy).mean() < 30
    assert np.abs(np.diff(dy, axis=0)).max() < 1.0  # smooth: under a pixel between neighbours


def test_intensity_changes_only_the_image():
    x = np.full((8, 8, 1), 0.5, np.float32)
    y = intensity(x, AugmentConfig(), np.random.default_rng(0))
    assert y.shape == x.shape and not np.allclose(x, y)
    assert np.array_equal(intensity(x, AugmentConfig(enabled=False), np.random.default_rng(0)), x)


def test_patch_dataset_is_reproducible_and_packs_targets():
    img, lab = random_cells(64, 5)
    s = Sample("a", img[..., None].astype(np.float32) / 255, (lab > 0).astype(np.uint8))
    ds = lambda: PatchDataset([s], size=32, batch_size=3, steps=2, augment=AugmentConfig(), seed=7)  # noqa: E731
    x1, y1 = ds()[1]
    x2, y2 = ds()[1]
    assert x1.shape == (3, 32, 32, 1) and y1.shape == (3, 32, 32, 2)
    np.testing.assert_array_equal(x1, x2)
    assert set(np.unique(y1[..., 0])) <= {0.0, 1.0} and np.all(y1[..., 1] == 1)
    resize = PatchDataset([s], size=32, batch_size=1, steps=1, augment=AugmentConfig(enabled=False), mode="resize")
    assert resize[0][0].shape == (1, 32, 32, 1)


def test_tile_dataset_covers_every_pixel_once():
    img = np.random.default_rng(0).random((70, 40, 1), dtype=np.float32)
    s = Sample("a", img, np.zeros((70, 40), np.uint8))
    ds = TileDataset([s], size=32, batch_size=4)
    # 70 -> starts 0, 32, 38; 40 -> 0, 8: 6 tiles
    assert ds.x.shape == (6, 32, 32, 1)
