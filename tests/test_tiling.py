import numpy as np
import pytest
from scipy import ndimage

from unetkit.tiling import predict_tiled, ramp_window, tile_grid


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (300, 130)])
@pytest.mark.parametrize("tta", [False, True])
def test_identity_model_reproduces_the_image_exactly(shape, tta):
    img = np.random.default_rng(0).random(shape + (2,), dtype=np.float32)
    calls = []

    def ident(batch):
        assert batch.shape[1] % 16 == 0 and batch.shape[2] % 16 == 0
        calls.append(len(batch))
        return batch

    out = predict_tiled(ident, img, tile=64, overlap=8, multiple=16, tta=tta)
    np.testing.assert_allclose(out, img, atol=1e-6)
    assert out.shape == img.shape


def test_context_model_has_no_seams():
    # a 5x5 mean filter needs 2 px of context: with a mirror margin and tile overlap of 8 px,
    # tiled prediction must equal filtering the whole mirror-padded image
    img = np.random.default_rng(1).random((150, 170, 1), dtype=np.float32)

    def box(batch):
        return ndimage.uniform_filter(batch, size=(1, 5, 5, 1), mode="reflect")

    tiled = predict_tiled(box, img, tile=64, overlap=8, multiple=16)
    whole = ndimage.uniform_filter(img, size=(5, 5, 1), mode="reflect")
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_tiles_overlap_and_cover():
    pos = tile_grid((300, 200), 64, 16)
    ys = sorted({y for y, _ in pos})
    assert ys[0] == 0 and ys[-1] == 300 - 64
    assert all(b - a <= 48 for a, b in zip(ys, ys[1:]))
    w = ramp_window(64, 8)
    assert w[0] == 0 and w[3] < w[5] < w[8] == 1.0  # exactly 0 on the outer overlap/2: such a tile adds nothing there


def test_tile_size_adapts_to_the_image():
    from unetkit.tiling import fit_tile
    assert fit_tile(512, (1152, 1152), 16, 64) == (480, 480)   # 3 tiles of 480 instead of 3 of 512
    assert fit_tile(512, (200, 200), 16, 32) == (208, 208)     # small image: one tile just covering it
    rows, cols = fit_tile(512, (10000, 300), 16, 64)
    assert rows <= 512 and cols == 304                         # never above the requested size; a narrow axis narrow


def test_a_wide_image_gets_wide_tiles_and_the_same_result():
    # each axis is fitted on its own: a 520 x 696 image is 4 tiles of 400 x 480, not 4 squares of 480 (0.83x the
    # pixels), and what the tiles compute is unchanged for a model with bounded context
    from unetkit.tiling import TilePlan
    plan = TilePlan.make((520, 696), 512, 64, 16)
    assert plan.tile == (400, 480) and len(plan.ys) * len(plan.xs) == 4
    img = np.random.default_rng(3).random((130, 174, 1), dtype=np.float32)
    shapes = set()

    def box(batch):
        shapes.add(batch.shape[1:3])
        return ndimage.uniform_filter(batch, size=(1, 5, 5, 1), mode="reflect")

    tiled = predict_tiled(box, img, tile=128, overlap=8, multiple=16)
    assert shapes == {(96, 112)}     # 2 x 2 tiles, wider than tall
    np.testing.assert_allclose(tiled, ndimage.uniform_filter(img, size=(5, 5, 1), mode="reflect"), atol=1e-5)


@pytest.mark.parametrize("tta", [False, True])
def test_flip_tta_makes_a_direction_bound_model_flip_equivariant(tta):
    # a model that sees only what lies to its left (cumulative mean along x) answers a mirrored
    # image differently; the mean over the four flips must answer it with the mirrored output
    img = np.random.default_rng(2).random((64, 64, 1), dtype=np.float32)

    def leftward(batch):
        return np.cumsum(batch, axis=2) / np.arange(1, batch.shape[2] + 1, dtype=np.float32)[None, None, :, None]

    out = predict_tiled(leftward, img, tile=64, overlap=8, multiple=16, tta=tta)
    mirrored = predict_tiled(leftward, img[:, ::-1], tile=64, overlap=8, multiple=16, tta=tta)[:, ::-1]
    gap = np.abs(out - mirrored).max()
    assert (gap < 1e-5) if tta else (gap > 0.1)
