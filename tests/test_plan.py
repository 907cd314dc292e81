"""The data fingerprint on generated data of known statistics, and the plan's rules on edge cases."""
import numpy as np
import pytest
from skimage.draw import disk

from unetkit.io import write_image
from unetkit.plan import Fingerprint, fingerprint, make_plan


def write_set(root, n, size, radius, centres_per_image, colour=False, dtype=np.uint8):
    for i in range(n):
        img = np.zeros((size, size), dtype) + (10 if dtype == np.uint8 else 1000)
        mask = np.zeros((size, size), np.uint8)
        for k in range(centres_per_image):
            c = (size // (centres_per_image + 1) * (k + 1), size // 2)
            mask[disk(c, radius, shape=mask.shape)] = 255
            img[disk(c, radius, shape=mask.shape)] = 200 if dtype == np.uint8 else 40000
        write_image(root / "images" / f"{i:02d}.png", np.dstack([img, img // 2, img]) if colour else img)
        write_image(root / "masks" / f"{i:02d}.png", mask)
    return root / "images", root / "masks"


def fp(**kw):
    base = dict(images=10, median_shape=(512, 512), min_side=512, colour=False, dtype="uint8",
                bright_background_share=0.0, foreground_share=0.3, foreground_cv=0.1, objects_per_image=50,
                single_object_share=0.0, object_diameter=20.0, object_diameter_p90=30.0, task="regions")
    return Fingerprint(**{**base, **kw})


def test_fingerprint_measures_known_statistics(tmp_path):
    images, masks = write_set(tmp_path, n=4, size=128, radius=10, centres_per_image=3)
    f = fingerprint(images, masks)
    assert f.images == 4 and f.median_shape == (128, 128) and not f.colour and f.dtype == "uint8"
    assert f.objects_per_image == 3
    assert f.object_diameter == pytest.approx(20, abs=1.5)                 # radius 10 disks
    assert f.foreground_share == pytest.approx(3 * np.pi * 100 / 128 ** 2, rel=0.1)
    assert f.foreground_cv == pytest.approx(0, abs=1e-6)


def test_big_regions_get_a_working_scale_and_small_objects_do_not():
    lesions = make_plan(fp(object_diameter=600, min_side=576, foreground_share=0.3, foreground_cv=0.7))
    assert lesions.settings["data.scale"] == 0.125                          # 256 / (2 * 600) -> 1/8 steps
    assert lesions.settings["data.patch_size"] == 64                        # 576 / 8, a multiple of 16
    assert lesions.settings["train.batch_size"] == 8                        # capped: cheaper steps, more of them
    assert lesions.settings["train.loss"] == "bce_dice"                      # widely varying foreground
    nuclei = make_plan(fp(object_diameter=15))
    assert nuclei.settings["data.scale"] == 1.0 and nuclei.settings["data.patch_size"] == 256
    assert nuclei.settings["train.loss"] == "bce"


def test_one_region_per_image_keeps_the_largest_region():
    one = make_plan(fp(object_diameter=300, objects_per_image=1, single_object_share=0.9))
    assert one.settings["predict.keep"] == "largest"
    assert "predict.keep" not in make_plan(fp(objects_per_image=1, single_object_share=0.5)).settings
    assert "predict.keep" not in make_plan(fp(single_object_share=1.0, task="instances")).settings


def test_keep_largest_removes_specks_and_fills_the_region():
    from unetkit.config import PredictConfig
    from unetkit.predictor import Predictor
    probs = np.zeros((40, 40, 1), np.float32)
    probs[5:30, 5:30] = 0.9
    probs[12:15, 12:15] = 0.1      # a hole in the lesion
    probs[35:38, 35:38] = 0.9      # a speck elsewhere
    kept = Predictor(None, {"keep": "largest"}, PredictConfig()).classes(probs)
    assert kept.sum() == 25 * 25 and kept[13, 13] == 1 and kept[36, 36] == 0
    every = Predictor(None, {"keep": "largest"}, PredictConfig(keep="all")).classes(probs)   # the user's choice wins
    assert every.sum() == 25 * 25 - 9 + 9                                   # the hole stays open, the speck stays
    assert Predictor(None, {}, PredictConfig()).keep == "all"                 # models from before the rule


def test_tiny_huge_rgb_and_16_bit_edge_cases():
    tiny = make_plan(fp(min_side=100, median_shape=(100, 120)))
    assert tiny.settings["data.patch_size"] == 96 and tiny.settings["train.batch_size"] == 8
    huge = make_plan(fp(min_side=40000, median_shape=(40000, 40000), object_diameter=5000))
    assert huge.settings["data.scale"] == 0.125 and huge.settings["data.patch_size"] == 256
    assert make_plan(fp(colour=True)).settings["data.channels"] == 3
    mixed = make_plan(fp(dtype="uint16", bright_background_share=0.3))
    assert mixed.settings["data.channels"] == 1 and mixed.settings["data.invert"] == "auto"
    assert "data.invert" not in make_plan(fp(bright_background_share=0.97)).settings   # one modality


def test_plan_command_and_train_planned_by_default(tmp_path, capsys):
    from unetkit.cli import main
    images, masks = write_set(tmp_path, n=6, size=256, radius=100, centres_per_image=1, colour=True)
    assert main(["plan", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "plan.yaml")]) == 0
    out = capsys.readouterr().out
    assert "task: regions" in out and "data.scale" in out and (tmp_path / "plan.yaml").is_file()
    written = (tmp_path / "plan.yaml").read_text()
    (tmp_path / "plan.yaml").write_text("edited: by hand\n")    # an earlier plan is not replaced unless asked
    assert main(["plan", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "plan.yaml")]) == 2
    assert "plan.yaml: already exists" in capsys.readouterr().err
    assert (tmp_path / "plan.yaml").read_text() == "edited: by hand\n"
    assert main(["plan", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "plan.yaml"),
                 "--overwrite"]) == 0
    assert (tmp_path / "plan.yaml").read_text() == written
    capsys.readouterr()
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "run"),
                 "--base-filters", "4", "--depth", "2", "--patch-size", "32", "--epochs", "1", "--steps-per-epoch",
                 "2", "--precision", "float32", "--val-range", "4:6", "--quiet"]) == 0
    from unetkit.checkpoint import load_model
    _, meta = load_model(tmp_path / "run")
    assert meta["scale"] < 1 and meta["channels"] == 3                     # planned scale, stored with the model
    assert meta["keep"] == "largest"                                         # one disk per mask: one region
    import yaml
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["patch_size"] == 32                                 # the explicit option won
    plan = yaml.safe_load((tmp_path / "run" / "plan.yaml").read_text())     # the plan beside the config, with reasons
    assert plan["fingerprint"]["task"] == "regions" and "data.scale" in plan["reasons"]
    assert saved["train"]["choose_threshold"] is True                       # regions: threshold chosen on validation
    summary = yaml.safe_load((tmp_path / "run" / "summary.json").read_text())
    assert meta["threshold"] == summary["threshold"] and 0.2 <= meta["threshold"] <= 0.7
    # replaced by an unplanned run (--overwrite): no plan.yaml of the old run is left to be read as the new one's;
    # files that are not a run's stay
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert main(["train", "--images", str(images), "--masks", str(masks), "--no-plan", "--out", str(tmp_path / "run"),
                 "--overwrite", "--base-filters", "4", "--depth", "2", "--patch-size", "32", "--epochs", "1",
                 "--steps-per-epoch", "1", "--precision", "float32", "--val-range", "4:6", "--quiet"]) == 0
    assert not (tmp_path / "run" / "plan.yaml").exists() and (tmp_path / "run" / "notes.txt").read_text() == "mine"
    assert "threshold" not in load_model(tmp_path / "run")[1]


def test_threshold_is_chosen_where_the_model_is_uncalibrated():
    from unetkit.thresholds import choose_threshold
    rng = np.random.default_rng(0)
    truths, low, calibrated = [], [], []
    for _ in range(4):
        truth = np.zeros((64, 64), bool)
        truth[16:48, 10:54] = True
        noise = rng.uniform(0, 0.05, truth.shape)
        truths.append(truth)
        low.append(np.where(truth, 0.35, 0.1) + noise)          # an under-confident network: lesion at 0.35-0.4
        calibrated.append(np.where(truth, 0.9, 0.1) + noise)
    under = choose_threshold(low, truths)
    assert under.threshold <= 0.35 and under.scores[under.threshold] == pytest.approx(1.0)
    assert under.scores[0.5] == pytest.approx(0.0)
    assert choose_threshold(calibrated, truths).threshold == 0.5            # no gain over 0.5: 0.5 stays
    with pytest.raises(ValueError):
        choose_threshold(low, truths[:2])


def test_threshold_of_a_prediction_the_users_then_the_models_then_half():
    from unetkit.config import PredictConfig
    from unetkit.predictor import Predictor
    assert Predictor(None, {"threshold": 0.35}, PredictConfig()).threshold == 0.35
    assert Predictor(None, {"threshold": 0.35}, PredictConfig(threshold=0.6)).threshold == 0.6
    assert Predictor(None, {}, PredictConfig()).threshold == 0.5
    probs = np.full((4, 4, 1), 0.4, np.float32)
    assert Predictor(None, {"threshold": 0.35}, PredictConfig()).classes(probs).all()
    assert not Predictor(None, {}, PredictConfig()).classes(probs).any()


def test_keep_largest_is_refused_block_wise_with_what_to_do(tmp_path):
    from unetkit.blocks.predict import predict_image
    from unetkit.config import BlockConfig, PredictConfig
    from unetkit.errors import UnetkitError
    from unetkit.planes import AxisChoice
    from unetkit.predictor import Predictor
    model = Predictor(None, {"keep": "largest"}, PredictConfig())
    with pytest.raises(UnetkitError, match="--keep all"):
        predict_image(model, tmp_path / "slide.ome.zarr", tmp_path, "slide", AxisChoice(), BlockConfig())


def test_scale_goes_on_halving_while_the_masks_survive():
    ph2 = dict(object_diameter=375.0, min_side=576, median_shape=(576, 767), objects_per_image=1)
    keep = {0.5: 1.0, 0.25: 0.997, 0.125: 0.992}
    assert make_plan(fp(**ph2, mask_fidelity=keep)).settings["data.scale"] == 0.125
    assert make_plan(fp(**ph2, mask_fidelity={**keep, 0.125: 0.95})).settings["data.scale"] == 0.25   # masks lost
    assert make_plan(fp(**{**ph2, "min_side": 400}, mask_fidelity=keep)).settings["data.scale"] == 0.25  # < 64 px
    small = make_plan(fp(mask_fidelity=keep))         # objects fit the patch: fidelity alone never shrinks
    assert small.settings["data.scale"] == 1.0


def test_mask_fidelity_tells_blobs_from_thin_lines():
    from unetkit.plan import mask_fidelity
    blob = np.zeros((512, 512), bool)
    blob[disk((256, 256), 150)] = True
    lines = np.zeros((512, 512), bool)
    lines[::24] = True                                 # one-pixel membranes 24 px apart
    assert mask_fidelity(blob, 0.125) > 0.97
    assert mask_fidelity(lines, 0.5) < 0.5
    assert mask_fidelity(blob, 1.0) == 1.0


def test_colour_regions_get_channel_jitter_and_nothing_else_does():
    assert make_plan(fp(colour=True)).settings["augment.channel_jitter"] == 0.15
    assert "augment.channel_jitter" not in make_plan(fp(colour=True, task="instances")).settings
    assert "augment.channel_jitter" not in make_plan(fp(colour=False)).settings


def test_channel_jitter_changes_colour_channels_apart_and_leaves_gray_alone():
    from unetkit.config import AugmentConfig
    from unetkit.data.augment import intensity
    only = AugmentConfig(channel_jitter=0.2, contrast=0, brightness=0, gamma=0, noise=0)
    rgb = intensity(np.full((8, 8, 3), 0.5, np.float32), only, np.random.default_rng(0))
    assert len(set(np.round(rgb[0, 0], 4))) == 3 and np.all(np.abs(rgb - 0.5) <= 0.5 * 0.2 + 0.1)
    gray = intensity(np.full((8, 8, 1), 0.5, np.float32), only, np.random.default_rng(0))
    assert np.all(gray == 0.5)


def test_channel_norm_stretches_each_colour_channel_and_is_planned_for_colour_regions(tmp_path):
    from unetkit.data.prepare import prepare
    ramp = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    cast = np.dstack([ramp * 200, ramp * 50, np.full((64, 64), 7.0)]).astype(np.uint8)   # a strong colour cast
    x = prepare(cast, 3, "channel")
    lo, hi = np.percentile(x.reshape(-1, 3), [1, 99.8], axis=0)
    assert np.allclose(lo[:2], 0, atol=0.02) and np.allclose(hi[:2], 1, atol=0.02)   # both ramps fill [0, 1]
    assert np.all(x[..., 2] == 0)                                                     # a flat channel stays flat
    assert prepare(cast, 3, "percentile")[..., 1].max() < 0.3                        # one stretch keeps the cast
    assert make_plan(fp(colour=True)).settings["data.norm"] == "channel"
    assert "data.norm" not in make_plan(fp(colour=True, task="instances")).settings


def test_channel_norm_is_refused_for_planes_streamed_block_wise(tmp_path):
    from types import SimpleNamespace

    from unetkit.errors import UnetkitError
    from unetkit.planes import plane_params
    plane = SimpleNamespace(path=tmp_path / "slide.ome.tif", selection=SimpleNamespace(yx=(50000, 50000)))
    with pytest.raises(UnetkitError, match="--blocks never"):
        plane_params(plane, 3, "channel", "never", "refuse")


def test_instances_keep_the_default_target_and_draws_and_the_fingerprint_counts_appearances(tmp_path):
    # the three-class target and appearance balance both counted worse in a 10-minute DSB run (section 15)
    mixed = {"gray-dark": 82, "colour-bright": 16, "gray-bright": 2}   # DSB 2018's mix
    plan = make_plan(fp(task="instances", appearance=mixed))
    assert plan.settings["data.target"] == "classes" and "data.balance" not in plan.settings
    images, masks = write_set(tmp_path / "gray", n=3, size=64, radius=6, centres_per_image=2)
    assert fingerprint(images, masks).appearance == {"gray-dark": 3}
    images, masks = write_set(tmp_path / "rgb", n=2, size=64, radius=6, centres_per_image=2, colour=True)
    assert fingerprint(images, masks).appearance == {"colour-dark": 2}
