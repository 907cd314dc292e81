import numpy as np
import pytest

from unetkit.data.sampling import Sample, appearance, draw_probabilities


def _sample(group, side=32):
    return Sample(group, np.zeros((side, side, 1), np.float32), np.zeros((side, side), np.uint8), group=group)


def test_appearance_groups():
    rng = np.random.default_rng(0)
    dark = (10 + rng.random((32, 32)) * 10).astype(np.uint8)  # fluorescence: a few bright nuclei on black
    dark[4:12, 4:12] = 200
    dark[20:28, 16:26] = 180
    assert appearance(dark) == "gray-dark"
    assert appearance(255 - dark) == "gray-bright"
    assert appearance(np.repeat(dark[..., None], 3, axis=2)) == "gray-dark"  # R=G=B is gray
    he = np.stack([255 - dark, 200 - dark, 230 - dark], axis=-1).astype(np.uint8)
    assert appearance(he) == "colour-bright"


def test_balanced_sampling_gives_rare_groups_sqrt_shares():
    samples = [_sample("common") for _ in range(9)] + [_sample("rare")]
    plain = draw_probabilities(samples)
    assert plain[-1] == pytest.approx(0.1)
    balanced = draw_probabilities(samples, "appearance")
    assert balanced.sum() == pytest.approx(1.0)
    assert balanced[-1] == pytest.approx(1 / 4)        # sqrt(1) / (sqrt(9) + sqrt(1))
    assert balanced[:9].sum() == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="balance"):
        draw_probabilities(samples, "modality")


def test_a_patch_larger_than_every_training_image_is_noted_with_a_size_that_fits():
    from types import SimpleNamespace

    from unetkit.config import RunConfig
    from unetkit.training_data import oversized_patch
    cfg = RunConfig()          # depth 4: sizes divisible by 16
    cfg.data.patch_size = 512
    samples = [SimpleNamespace(image=np.zeros((64, 90, 1), np.float32)), SimpleNamespace(image=np.zeros((70, 70, 1)))]
    assert oversized_patch(samples, cfg) == ("note: --patch-size 512 exceeds every training image (the largest is 90 px "
                                             "a side as trained): patches are mostly mirrored copies, 32.4x the pixels "
                                             "per step; --patch-size 80 fits them")
    cfg.data.patch_size = 80
    assert oversized_patch(samples, cfg) is None
    cfg.data.patch_size, cfg.data.sampling = 512, "resize"    # the seeds' recipe resizes whole images: no padding
    assert oversized_patch(samples, cfg) is None
