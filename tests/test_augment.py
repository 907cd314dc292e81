import numpy as np

from unetkit.data.augment import (AugmentConfig, elastic_field, intensity, object_gain, remap, sampling_map, shot_noise,
                                  texture)
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


def test_texture_grains_bright_objects_and_leaves_a_dark_background_dark():
    x = np.zeros((96, 96, 1), np.float32)
    x[24:72, 24:72] = 0.8   # one flat bright nucleus on a black background
    cfg = AugmentConfig(texture=0.5, shading=0.0)
    y = np.stack([texture(x, cfg, np.random.default_rng(s)) for s in range(4)])
    inside = y[:, 30:66, 30:66]
    assert inside.std(axis=(1, 2, 3)).max() > 0.05          # the flat nucleus is grainy now
    assert np.array_equal(y[:, :20, :20], np.zeros((4, 20, 20, 1), np.float32))   # multiplicative: black stays black
    assert y.min() >= 0 and abs(float(inside.mean()) - 0.8) < 0.1   # grain around the same brightness


def test_shading_only_dims_and_is_smooth():
    x = np.full((128, 128, 3), 0.6, np.float32)
    y = np.stack([texture(x, AugmentConfig(texture=0.0, shading=0.6), np.random.default_rng(s)) for s in range(6)])
    assert y.max() <= 0.6 + 1e-6 and y.min() < 0.45          # dimmer somewhere, never brighter
    assert np.abs(np.diff(y[..., 0], axis=1)).max() < 0.02   # a field 30-60 px wide, not noise
    assert np.array_equal(y[..., 0], y[..., 2])              # one field for every channel


def test_texture_off_draws_nothing_so_seeded_runs_repeat():
    x = np.full((16, 16, 1), 0.5, np.float32)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    intensity(x, AugmentConfig(), a)
    intensity(x, AugmentConfig(texture=0.0, shading=0.0, shot_noise=0.0), b)
    assert a.random() == b.random()


def _touching_pair() -> np.ndarray:
    """Boundary-target classes of two nuclei pressed together: interiors 1, their rings 2 (the contact too)."""
    from unetkit.data.targets import boundary_classes
    objects = np.zeros((64, 96), np.int32)
    yy, xx = np.mgrid[:64, :96]
    objects[(yy - 32) ** 2 + (xx - 30) ** 2 < 18 ** 2] = 1
    objects[((yy - 32) ** 2 + (xx - 64) ** 2 < 18 ** 2) & (objects == 0)] = 2   # touches the first at x ~ 47
    return objects, boundary_classes(objects)


def test_each_object_dims_as_a_whole_with_its_own_gain():
    objects, classes = _touching_pair()
    gains = [object_gain(classes, 0.75, np.random.default_rng(s)) for s in range(8)]
    for g in gains:
        assert np.all(g[objects == 0] == 1.0)                      # the background keeps its brightness
        for k in (1, 2):
            inside = g[objects == k]
            assert inside.min() == inside.max() and 0.25 <= inside.min() <= 1   # one gain per nucleus, ring included
    pairs = [(g[objects == 1][0], g[objects == 2][0]) for g in gains]
    assert max(abs(a - b) for a, b in pairs) > 0.2                   # neighbours dim independently


def test_object_dimming_needs_labels_and_touches_only_objects():
    objects, classes = _touching_pair()
    x = np.where(objects > 0, 0.8, 0.1).astype(np.float32)[..., None]
    plain = dict(brightness=0, contrast=0, gamma=0, noise=0)
    outs = [intensity(x, AugmentConfig(dim_objects=0.75, **plain), np.random.default_rng(s), classes) for s in range(8)]
    assert any(not np.array_equal(y, x) for y in outs) and any(np.array_equal(y, x) for y in outs)   # half the patches
    assert all(np.array_equal(y[objects == 0], x[objects == 0]) for y in outs)
    assert all(y.max() <= 0.8 + 1e-6 for y in outs)                  # only ever dimmer
    # without the patch's labels there is nothing to dim (validation tiles, image-only callers)
    assert np.array_equal(intensity(x, AugmentConfig(dim_objects=0.75, **plain), np.random.default_rng(0)), x)


def test_shot_noise_grows_with_the_signal_and_spares_a_black_background():
    """Photon noise: variance proportional to brightness, within the drawn photon range."""
    x = np.zeros((128, 128, 1), np.float32)
    x[:, 64:] = 0.8
    x[:, 32:64] = 0.2
    ys = [shot_noise(x, 100.0, np.random.default_rng(s)) for s in range(12)]
    assert all(np.array_equal(y[:, :32], x[:, :32]) for y in ys)           # nothing where there is no signal
    bright = np.array([y[:, 64:].std() for y in ys])
    dim = np.array([y[:, 32:64].std() for y in ys])
    assert np.allclose(bright / dim, 2.0, rtol=0.1)                          # std ~ sqrt(x): sqrt(0.8 / 0.2)
    # std sqrt(0.8 / p) for p in [100, 10000]: 0.0089 .. 0.089, and the draws spread over that range
    assert bright.max() <= 0.095 and bright.min() >= 0.008 and bright.max() / bright.min() > 2
    assert abs(float(np.mean([y[:, 64:].mean() for y in ys])) - 0.8) < 0.01  # no shift in brightness


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
