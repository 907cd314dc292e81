"""The nuclei tools around the model: distance-head seeds, threshold calibration, fine-tuning."""
import json

import numpy as np
import pytest
from skimage.draw import disk

from unetkit.checkpoint import read_meta
from unetkit.cli import main
from unetkit.config import InstanceConfig
from unetkit.data.synthetic import write_dataset
from unetkit.data.targets import distance_target
from unetkit.errors import UnetkitError
from unetkit.instances import distance_seeds, instance_settings, instances_from_probs
from unetkit.io import write_image

from test_cli import TINY


def two_touching_disks():
    lab = np.zeros((64, 96), np.int32)
    lab[disk((32, 34), 16, shape=lab.shape)] = 1
    lab[disk((32, 62), 16, shape=lab.shape)] = 2
    return lab


def test_distance_seeds_split_what_a_patchy_interior_merges():
    lab = two_touching_disks()
    fg = (lab > 0).astype(np.float32)
    # a 3-class output whose interior is confident across the neck: interior seeds make one object
    probs = np.stack([1 - fg, fg * 0.9, fg * 0.1], -1)
    assert instances_from_probs(probs, InstanceConfig()).max() == 1
    # the distance head peaks once per nucleus: two seeds, two objects, each close to its truth
    out = instances_from_probs(probs, InstanceConfig(), distance=distance_target(lab))
    assert out.max() == 2
    for k in (1, 2):
        overlap = np.bincount(out[lab == k], minlength=3)[1:]
        assert overlap.max() / (lab == k).sum() > 0.9


def test_distance_seeds_follow_the_model():
    assert distance_seeds({"aux": "distance"}, InstanceConfig())
    assert not distance_seeds({"aux": "distance"}, InstanceConfig(seeds="interior"))
    assert not distance_seeds({"aux": None}, InstanceConfig())
    with pytest.raises(UnetkitError, match="distance head"):
        distance_seeds({"aux": None}, InstanceConfig(seeds="distance"))


def test_instance_settings_stored_in_a_model_are_defaults_that_options_override():
    meta = {"instances": {"threshold": 0.4, "marker_threshold": 0.5, "calibrated_on": 10}}
    cfg = instance_settings(meta)
    assert (cfg.threshold, cfg.marker_threshold) == (0.4, 0.5)
    cfg = instance_settings(meta, threshold=0.6, marker_threshold=None)
    assert (cfg.threshold, cfg.marker_threshold) == (0.6, 0.5)
    assert instance_settings({}).threshold == InstanceConfig().threshold
    # the seed smoothing travels with the thresholds; --smooth overrides it, and refuses a negative sigma
    assert instance_settings({"instances": {"smooth": 2.0}}).smooth == 2.0
    assert instance_settings({"instances": {"smooth": 2.0}}, smooth=0.0).smooth == 0.0
    with pytest.raises(UnetkitError, match="--smooth -1"):
        instance_settings({}, smooth=-1.0)


def test_smoothed_seeds_give_a_textured_nucleus_one_seed():
    """Chromatin texture breaks a nucleus's interior probability into islands over the seed threshold: each
    island seeds an object. Smoothing the seed map first (the bundled model's 2 px) leaves one seed."""
    from scipy import ndimage
    lab = np.zeros((64, 64), np.int32)
    lab[disk((32, 32), 12, shape=lab.shape)] = 1
    fg = (lab > 0).astype(np.float32)
    rng = np.random.default_rng(0)
    grain = ndimage.gaussian_filter(rng.standard_normal(lab.shape), 1.5)
    interior = fg * np.clip(0.75 + 0.25 * grain / grain.std(), 0, 0.95) * (ndimage.distance_transform_edt(lab) > 2)
    probs = np.stack([1 - fg, interior, fg - interior], -1)
    assert instances_from_probs(probs, InstanceConfig(marker_threshold=0.7)).max() > 1
    assert instances_from_probs(probs, InstanceConfig(marker_threshold=0.7, smooth=2.0)).max() == 1


def test_min_score_drops_the_objects_the_network_is_unsure_of_by_their_peak_not_their_mean():
    """Three foreground blobs: a confident nucleus, a pale one (interior never above 0.55: a fold of cytoplasm),
    and a small confident one whose mean interior is low (it is mostly boundary) but whose centre is sure."""
    from unetkit.instances import object_scores, score_map
    fg = np.zeros((96, 96), np.float32)
    interior = np.zeros_like(fg)
    for (cy, cx), r, peak in (((24, 24), 12, 0.95), ((24, 70), 12, 0.55), ((70, 48), 4, 0.9)):
        m = disk((cy, cx), r, shape=fg.shape)
        fg[m] = 1
        core = np.zeros_like(fg, bool)
        core[disk((cy, cx), max(r - 3, 1), shape=fg.shape)] = True
        interior[core] = peak
    probs = np.stack([1 - fg, interior, fg - interior], -1)
    cfg = InstanceConfig(threshold=0.5, marker_threshold=0.5, min_size=5)
    every = instances_from_probs(probs, cfg)
    assert every.max() == 3
    peaks = object_scores(every, score_map(probs, probs[..., 1]))
    means = [interior[every == k].mean() for k in range(1, 4)]
    small = int(every[70, 48]) - 1
    assert peaks[small] >= 0.9 and means[small] < 0.6   # a mean would drop it; its peak keeps it
    sure = instances_from_probs(probs, InstanceConfig(threshold=0.5, marker_threshold=0.5, min_size=5, min_score=0.6))
    assert sure.max() == 2 and sure[24, 70] == 0 and sure[24, 24] > 0 and sure[70, 48] > 0
    # binary models score by their foreground probability
    assert instances_from_probs(0.55 * fg[..., None], InstanceConfig(min_size=5, min_score=0.6)).max() == 0
    with pytest.raises(UnetkitError, match="--min-score 1.5"):
        instance_settings({}, min_score=1.5)
    assert instance_settings({"instances": {"min_score": 0.6}}).min_score == 0.6   # a model may store its own
    # the tables' score is that peak, read where count labelled: at the working scale, not on a resized map
    # (which would dilute the small nucleus' one-pixel-wide peak); ids renumbered as the labels are
    from unetkit.diameter import labels_from
    from unetkit.instances import objects_from_probs
    for shape in ((192, 192), (96, 96), (40, 40)):          # count shrank the image, left it, enlarged it
        found, _ = labels_from(probs, None, shape, 1.0, cfg)
        native, scores = found.labels, found.scores
        assert len(scores) == native.max() and sorted(np.unique(native[native > 0])) == list(range(1, native.max() + 1))
        for k in range(1, native.max() + 1):                  # each native object keeps its working object's peak
            ys, xs = np.nonzero(native == k)
            working_id = every[int(ys[0] * 96 / shape[0]), int(xs[0] * 96 / shape[1])]
            assert scores[k - 1] == peaks[working_id - 1]
    assert np.allclose(objects_from_probs(0.55 * fg[..., None], InstanceConfig(min_size=5)).scores, 0.55)  # binary
    counted = objects_from_probs(probs, InstanceConfig(threshold=0.5, marker_threshold=0.5, min_size=5, min_score=0.6))
    assert counted.unsure == 1 and np.array_equal(counted.labels, sure)          # the pale one, said, not hidden


def synthetic_nuclei(root, n=3, size=96, d=18, seed=0):
    """Gray images of touching and lone bright nuclei (~the bundled model's size) with instance labels."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        lab = np.zeros((size, size), np.uint16)
        k = 0
        for _ in range(12):
            c = rng.integers(d // 2, size - d // 2, 2)
            rr, cc = disk(tuple(c), d / 2 * rng.uniform(0.8, 1.2), shape=lab.shape)
            free = lab[rr, cc] == 0
            k += 1
            lab[rr[free], cc[free]] = k
        img = rng.normal(20, 5, lab.shape) + np.where(lab > 0, 140, 0) + rng.normal(0, 10, lab.shape) * (lab > 0)
        write_image(root / "images" / f"n{i}.png", np.clip(img, 0, 255).astype(np.uint8))
        write_image(root / "masks" / f"n{i}.png", lab)
    return root / "images", root / "masks"


def test_calibrate_writes_a_model_whose_count_uses_the_chosen_thresholds(tmp_path, capsys, monkeypatch):
    images, masks = synthetic_nuclei(tmp_path / "data")
    out = tmp_path / "nuclei_cal.keras"
    assert main(["calibrate", "--model", "nuclei", "--images", str(images), "--masks", str(masks),
                 "--out", str(out), "--quiet"]) == 0
    report = json.loads(out.with_suffix(".calibration.json").read_text())
    assert report["score"] >= report["default_score"] and report["criterion"] == "f1"
    assert set(report["settings"]) == {"threshold", "marker_threshold", "min_score"}
    from unetkit.calibrate import GRID
    assert len(report["table"]) == len(GRID["threshold"]) * len(GRID["marker_threshold"]) * len(GRID["min_score"])
    assert all(np.isfinite(r["count_error"]) and r["count_error"] >= 0 for r in report["table"])
    stored = read_meta(out)["instances"]
    assert {k: stored[k] for k in report["settings"]} == report["settings"] and stored["calibrated_on"] == 3
    # the copy counts with the stored settings: same objects as the bundled model given them explicitly
    s = report["settings"]
    assert main(["count", str(images), "--model", str(out), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["count", str(images), "--model", "nuclei", "--out", str(tmp_path / "b"), "--quiet",
                 "--threshold", str(s["threshold"]), "--marker-threshold", str(s["marker_threshold"]),
                 "--min-score", str(s["min_score"])]) == 0
    assert (tmp_path / "a" / "counts.csv").read_text() == (tmp_path / "b" / "counts.csv").read_text()
    # never over an earlier result
    assert main(["calibrate", "--model", "nuclei", "--images", str(images), "--masks", str(masks),
                 "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    # a name the copy cannot take is refused before the search (it predicted every image, then refused)
    import unetkit.calibrate
    searched = []
    monkeypatch.setattr(unetkit.calibrate, "calibrate", lambda *a, **k: searched.append(1))
    assert main(["calibrate", "--model", "nuclei", "--images", str(images), "--masks", str(masks),
                 "--out", str(tmp_path / "calibrated"), "--quiet"]) == 2
    assert "name it NAME.keras" in capsys.readouterr().err and not searched


def test_calibrate_refuses_what_it_cannot_do(tmp_path):
    from unetkit.calibrate import Calibration, calibrate, write_calibrated
    from unetkit.checkpoint import resolve_model_path
    result = Calibration({"threshold": 0.4}, 0.5, 0.4, {}, 1, [])
    with pytest.raises(UnetkitError, match="NAME.keras"):
        write_calibrated("nuclei", result, tmp_path / "out.h5")
    with pytest.raises(UnetkitError, match="would overwrite"):
        write_calibrated("nuclei", result, resolve_model_path("nuclei"))
    with pytest.raises(UnetkitError, match="watershed"):
        calibrate("nuclei", tmp_path, tmp_path, base=InstanceConfig(split="components"), verbose=False)
    with pytest.raises(UnetkitError, match="--criterion outlines"):
        calibrate("nuclei", tmp_path, tmp_path, criterion="outlines", verbose=False)


def test_calibrate_criteria_f1_rates_outlines_count_keeps_the_count():
    """f1 takes the best mean F1 at IoU 0.5 / 0.75; count takes the best F1 at IoU 0.5 among the settings that
    count no worse than the model's own, so a setting that outlines better but loses objects is not chosen."""
    from unetkit.calibrate import choose
    row = lambda ms, f50, f75, err: {"min_score": ms, "f1_0.5": f50, "f1_0.75": f75,   # noqa: E731
                                     "score": (f50 + f75) / 2, "count_error": err}
    own, outlines, counts = row(0.0, 0.89, 0.70, 0.05), row(0.8, 0.895, 0.72, 0.08), row(0.6, 0.898, 0.71, 0.05)
    table = [own, outlines, counts]
    assert choose(table, own, ["min_score"], "f1") is outlines
    assert choose(table, own, ["min_score"], "count") is counts
    assert choose([own, row(0.5, 0.89, 0.70, 0.05)], own, ["min_score"], "count") is own   # a tie keeps the model's
    nan = row(0.0, 0.0, 0.0, float("nan"))   # no annotated objects anywhere: F1 alone decides
    assert choose([nan, counts], nan, ["min_score"], "count") is counts


def test_train_init_fine_tunes_a_model_and_takes_its_input_settings(tmp_path, capsys):
    images, masks = write_dataset(tmp_path / "data", n=6, size=64, seed=1)
    base = tmp_path / "base"
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(base), *TINY,
                 "--norm", "scale", "--loss", "bce_dice"]) == 0
    tuned = tmp_path / "tuned"
    assert main(["train", "--init", str(base), "--images", str(images), "--masks", str(masks), "--out", str(tuned),
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--patch-size", "32",
                 "--val-range", "4:6", "--precision", "float32", "--quiet"]) == 0
    import yaml
    cfg = yaml.safe_load((tuned / "config.yaml").read_text())
    assert cfg["train"]["init"] == str(base) and cfg["train"]["learning_rate"] == 3e-4
    assert cfg["data"]["norm"] == "scale"            # taken from the model, not the default percentile
    assert cfg["train"]["loss"] == "bce_dice"        # fine-tuning goes on with the model's own loss
    assert read_meta(tuned / "best.keras")["init"] == str(base)
    # the weights start from the model's: before any step the fine-tuned network is the base one
    from unetkit.config import from_dict
    from unetkit.network import init_model
    run_cfg = from_dict(cfg)
    model, _ = init_model(run_cfg, 1, {"num_classes": 1, "aux": None})
    from unetkit.checkpoint import load_model
    base_model, _ = load_model(base)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), base_model.get_weights()))
    # a config file's loss is a training choice and wins over the model's; its input settings still come from it;
    # a calibrated start model hands its count thresholds and its learned object size on to the fine-tune
    chosen = tmp_path / "chosen.yaml"
    chosen.write_text("train:\n  loss: bce\n  epochs: 1\n  steps_per_epoch: 1\n  batch_size: 2\n"
                      "data:\n  patch_size: 32\n  val_range: '4:6'\n")
    from unetkit.checkpoint import rewrite_meta
    calibrated = rewrite_meta(base / "best.keras", tmp_path / "calibrated.keras",
                              {**read_meta(base / "best.keras"), "instances": {"threshold": 0.4}, "diameter": 42.0,
                               "noise": 0.5})
    assert main(["train", "--init", str(calibrated), "--config", str(chosen), "--images", str(images), "--masks",
                 str(masks), "--out", str(tmp_path / "from_calibrated"), "--precision", "float32", "--quiet"]) == 0
    run = yaml.safe_load((tmp_path / "from_calibrated" / "config.yaml").read_text())
    assert run["train"]["loss"] == "bce" and run["data"]["norm"] == "scale"
    tuned_meta = read_meta(tmp_path / "from_calibrated" / "best.keras")
    assert tuned_meta["instances"] == {"threshold": 0.4} and tuned_meta["diameter"] == 42.0
    # the training images' noise is recorded (noise.py); a fine-tune has seen the start model's images too
    assert 0 < read_meta(base / "best.keras")["noise"] < 0.5 and tuned_meta["noise"] == 0.5
    # a run that contradicts the model is refused with what differs
    assert main(["train", "--init", str(base), "--images", str(images), "--masks", str(masks),
                 "--out", str(tmp_path / "bad"), "--channels", "3", "--epochs", "1", "--quiet"]) == 2
    assert "channels" in capsys.readouterr().err and not (tmp_path / "bad").exists()   # nothing half-written


def test_a_model_saved_in_mixed_bfloat16_runs_in_the_current_policy(tmp_path):
    """The bundled model was trained in bfloat16; on a CPU without bf16 units it must run float32
    (emulated bfloat16 made fine-tuning about 4x slower), with the same weights."""
    import keras
    from unetkit.checkpoint import load_model, save_model
    from unetkit.models import build
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build("unet", base_filters=4, depth=2, input_channels=1, num_classes=1)
        save_model(model, tmp_path / "m.keras", {"channels": 1, "depth": 2}, with_optimizer=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded, _ = load_model(tmp_path / "m.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    x = np.random.default_rng(0).random((1, 32, 32, 1), np.float32)
    assert np.allclose(np.asarray(loaded(x)), np.asarray(model(x), np.float32), atol=0.05)


def test_a_fine_tune_that_never_beats_its_start_hands_back_the_starting_model(synth, base_model, tmp_path, capsys):
    import keras

    from conftest import tiny_config
    from unetkit.checkpoint import load_model
    from unetkit.training import train
    base = base_model

    class Wreck(keras.callbacks.Callback):   # every step leaves a network that predicts one class everywhere
        def on_train_batch_end(self, batch, logs=None):
            self.model.set_weights([np.zeros_like(w) for w in self.model.get_weights()])

    cfg = tiny_config(*synth, init=str(base), epochs=1, steps_per_epoch=2)
    train(cfg, tmp_path / "tuned", callbacks=[Wreck()], verbose=1)
    assert "the starting model scores val_mean_iou" in capsys.readouterr().out
    kept, start = load_model(tmp_path / "tuned" / "best.keras")[0], load_model(base)[0]
    assert all(np.array_equal(a, b) for a, b in zip(kept.get_weights(), start.get_weights()))
    last = load_model(tmp_path / "tuned" / "last.keras")[0]
    assert not any(np.any(w) for w in last.get_weights())      # the epochs did run, and lost


def test_freeze_encoder_trains_the_decoder_only(synth, base_model, tmp_path):
    from conftest import tiny_config
    from unetkit.checkpoint import load_model
    from unetkit.config import validate
    from unetkit.models.blocks import ENCODER_PREFIXES
    from unetkit.training import train
    base = base_model
    train(tiny_config(*synth, init=str(base), freeze="encoder", epochs=1, steps_per_epoch=3, learning_rate=0.01),
          tmp_path / "tuned", verbose=0)
    start, last = load_model(base)[0], load_model(tmp_path / "tuned" / "last.keras")[0]
    moved = {layer.name: any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(),
                                                                       start.get_layer(layer.name).get_weights()))
             for layer in last.layers if layer.weights}
    encoder = {n for n in moved if n.startswith(ENCODER_PREFIXES)}
    assert encoder and not any(moved[n] for n in encoder)               # batch norm statistics included
    assert any(moved[n] for n in moved if n not in encoder)             # the decoder did train
    with pytest.raises(UnetkitError, match="needs a model to start from"):
        validate(tiny_config(*synth, freeze="encoder"))
    import keras
    from unetkit.models.blocks import freeze_encoder
    plain = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv")], name="plain")
    with pytest.raises(UnetkitError, match="'plain' has no encoder layers"):
        freeze_encoder(plain)


def test_mix_makes_best_the_weighted_mean_of_the_start_and_the_fine_tuned_best(synth, base_model, tmp_path, capsys):
    from conftest import tiny_config
    from unetkit.checkpoint import load_model
    from unetkit.config import validate
    from unetkit.mixing import FINETUNED, mix_weights
    from unetkit.training import train
    base = base_model
    out = tmp_path / "tuned"
    train(tiny_config(*synth, init=str(base), mix=0.25, epochs=2, steps_per_epoch=3, learning_rate=0.01), out, verbose=1)
    logged = capsys.readouterr().out
    assert "WiSE-FT" in logged and f"alone ({FINETUNED})" in logged
    start = load_model(base)[0].get_weights()
    tuned = load_model(out / FINETUNED)[0].get_weights()
    best, meta = load_model(out / "best.keras")
    assert any(not np.allclose(a, b) for a, b in zip(start, tuned))       # the fine-tune moved the weights
    for s, t, b in zip(start, tuned, best.get_weights()):
        np.testing.assert_allclose(b, 0.75 * s + 0.25 * t, rtol=1e-5, atol=1e-6)
    assert meta["mixed"]["share"] == 0.25 and np.isfinite(meta["mixed"]["score"])
    # the unmixed best is scored on the same validation images: what the run picked it by
    summary = json.loads((out / "summary.json").read_text())
    assert meta["mixed"]["finetuned_score"] == pytest.approx(summary["best"], rel=1e-3)
    assert summary["mixed"]["share"] == 0.25
    with pytest.raises(UnetkitError, match="needs train --init"):
        validate(tiny_config(*synth, mix=0.5))
    with pytest.raises(UnetkitError, match="differ in architecture"):
        mix_weights([start, start[:-1]], [1, 1])
    with pytest.raises(UnetkitError, match="one non-negative share per model"):
        mix_weights([start, tuned], [1.5, -0.5])
    with pytest.raises(UnetkitError, match="one non-negative share per model"):
        mix_weights([start, tuned], [1])


def test_ema_checkpoints_hold_the_moving_average_and_resume_steps_on_from_the_raw_weights(synth, tmp_path):
    import keras
    from conftest import tiny_config
    from unetkit.checkpoint import load_model
    from unetkit.training import train

    class Steps(keras.callbacks.Callback):
        """The raw (stepped) weights after every step, and at each epoch's start; ``stop`` ends the run after
        its first epoch, as an interrupted run ends (a run that ends at its last epoch keeps the average only)."""
        def __init__(self, stop=False):
            super().__init__()
            self.after_step, self.epoch_start, self.stop = [], [], stop

        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = self.stop

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start.append([v.numpy().copy() for v in self.model.trainable_weights])

        def on_train_batch_end(self, batch, logs=None):
            self.after_step.append([v.numpy().copy() for v in self.model.trainable_weights])

    momentum, out, first = 0.5, tmp_path / "run", Steps(stop=True)
    train(tiny_config(*synth, ema=momentum, epochs=2, steps_per_epoch=3, learning_rate=0.05), out,
          verbose=0, callbacks=[first])
    average = first.after_step[0]                 # Keras: the first step copies, then m x average + (1 - m) x new
    for weights in first.after_step[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    saved = [v.numpy() for v in load_model(out / "last.keras")[0].trainable_weights]
    for s, a in zip(saved, average):
        np.testing.assert_allclose(s, a, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(s, w) for s, w in zip(saved, first.after_step[-1]))   # not the last step's weights
    assert json.loads((out / "state.json").read_text())["epoch"] == 1
    second = Steps()                              # resumed, the steps go on from the raw weights, not the average
    train(tiny_config(*synth, ema=momentum, epochs=2, steps_per_epoch=3, learning_rate=0.05), out,
          resume=True, verbose=0, callbacks=[second])
    for r, w in zip(second.epoch_start[0], first.after_step[-1]):
        np.testing.assert_allclose(r, w, rtol=1e-5, atol=1e-6)
    with pytest.raises(UnetkitError, match=r"train.ema = 1 must be a momentum in \[0, 1\)"):
        from unetkit.config import validate
        validate(tiny_config(*synth, ema=1))


def disks(size: int, radius: int, centres) -> tuple[np.ndarray, np.ndarray]:
    lab = np.zeros((size, size), np.int32)
    for i, c in enumerate(centres, 1):
        lab[disk(c, radius, shape=lab.shape)] = i
    img = np.where(lab > 0, 200, 30).astype(np.uint8)
    return img, lab


def test_matching_scale_brings_objects_outside_counts_band_to_the_models_size():
    from unetkit.data.pairs import resize_pair
    from unetkit.diameter import AIM, matching_scale, median_diameter
    img, lab = disks(96, 12, [(20, 20), (20, 70), (70, 45)])       # about 24 px across
    assert matching_scale(lab, 12.0) == pytest.approx(12.0 * AIM / median_diameter(lab)[0])   # count's aim
    assert matching_scale(lab, 20.0) == 1.0                          # in the band count leaves alone
    assert matching_scale(lab, 20.0, scale=0.5) == pytest.approx(20.0 * AIM / median_diameter(lab)[0])
    assert matching_scale(lab, None) == 1.0 and matching_scale(lab[:30], 12.0) == 1.0   # no size, < 3 objects
    from unetkit.diameter import MAX_UPSCALED
    wide = np.zeros((2048, 2048), np.int32)                          # 6 px nuclei: x3.1 would make 40 Mpx
    wide[:100, :100] = disks(100, 3, [(20, 20), (20, 60), (60, 40)])[1]
    assert 1 < matching_scale(wide, 18.86) and matching_scale(wide, 18.86) ** 2 * wide.size <= MAX_UPSCALED * 1.001
    f = matching_scale(lab, 12.0)
    small_img, small = resize_pair(img, lab, f)
    assert small.shape == small_img.shape[:2] == (round(96 * f),) * 2 and small.dtype == lab.dtype
    assert set(np.unique(small)) == {0, 1, 2, 3}                     # ids stay ids (nearest neighbour)
    assert median_diameter(small)[0] == pytest.approx(12.0 * AIM, rel=0.1)
    big_img, big = resize_pair(img, lab, 2.0)                        # enlarging: linear, still 8-bit
    assert big.shape == (192, 192) and big_img.dtype == np.uint8 and set(np.unique(big)) == {0, 1, 2, 3}


def test_fine_tuning_on_instances_trains_each_image_at_the_size_count_will_show_it(tmp_path, capsys):
    """Images whose nuclei are far from the start model's size are resized to it, in-band ones stay,
    and --no-match-diameter keeps every image at its own size."""
    from conftest import tiny_config
    from unetkit.checkpoint import rewrite_meta
    from unetkit.diameter import median_diameter
    from unetkit.training import train
    from unetkit.training_data import matched_scales, read_pairs, to_samples
    from unetkit.data.pairs import pair_folders
    for i in range(6):   # 0, 2, 4: nuclei about 24 px across (2x the model's 12 px); 1, 3, 5: about 12 px
        radius, centres = (12, [(20, 20), (20, 70), (70, 45)]) if i % 2 == 0 else \
            (6, [(15, 15), (15, 50), (50, 15), (50, 50), (80, 80)])
        img, lab = disks(96, radius, centres)
        write_image(tmp_path / "data" / "images" / f"{i:03d}.png", img)
        write_image(tmp_path / "data" / "masks" / f"{i:03d}.png", lab.astype(np.uint16))
    images, masks = tmp_path / "data" / "images", tmp_path / "data" / "masks"
    base_cfg = tiny_config(images, masks, epochs=1, steps_per_epoch=1)
    base_cfg.data.mask_mode = "instances"
    base = train(base_cfg, tmp_path / "base", verbose=0).best_path
    start = rewrite_meta(base, tmp_path / "start.keras", {**read_meta(base), "diameter": 12.0})
    cfg = tiny_config(images, masks, init=str(start), epochs=1, steps_per_epoch=1)
    cfg.data.mask_mode = "instances"
    train(cfg, tmp_path / "tuned", verbose=1)
    log = capsys.readouterr().out
    assert "object size matched to 15.0 px, where count will scale them (1.25 x the model's 12.0 px)" in log
    assert "2 of 4 training images resized" in log
    assert "1 of 2 validation images resized" in log

    def sizes(cfg):
        loaded = read_pairs(pair_folders(images, masks), cfg)
        samples = to_samples(loaded, cfg, 1, matched_scales(loaded, cfg, lambda line: None))
        return [(s.labels.shape[0], median_diameter(s.objects)[0]) for s in samples]
    matched = sizes(cfg)
    assert [side for side, _ in matched] == [61, 96] * 3       # 96 px x 12 x 1.25 / 23.7
    assert [d == pytest.approx(15, rel=0.15) for d in [d for _, d in matched][::2]] == [True] * 3    # count's aim
    assert all(d == pytest.approx(12, rel=0.15) for d in [d for _, d in matched][1::2])               # in band
    cfg.train.match_diameter = False
    assert [side for side, _ in sizes(cfg)] == [96] * 6
    assert main(["train", "--init", str(start), "--images", str(images), "--masks", str(masks), "--no-match-diameter",
                 "--out", str(tmp_path / "own"), "--epochs", "1", "--steps-per-epoch", "1", "--patch-size", "32",
                 "--val-range", "4:6", "--precision", "float32"]) == 0
    assert "object size matched" not in capsys.readouterr().out
    import yaml
    assert yaml.safe_load((tmp_path / "own" / "config.yaml").read_text())["train"]["match_diameter"] is False


def test_fine_tuning_takes_the_start_models_loss_and_a_configs_contacts():
    from unetkit.checkpoint import resolve_model_path
    from unetkit.config import RunConfig
    from unetkit.network import adopt_init, model_meta
    bundled = read_meta(resolve_model_path("nuclei"))
    cfg = adopt_init(RunConfig(), "nuclei")
    assert (cfg.train.loss, cfg.train.w0, cfg.train.class_balance) == (bundled["loss"], bundled["w0"], False)
    assert cfg.train.contacts is False          # saved before contacts existed: the paper's term, gaps only
    cfg = adopt_init(RunConfig(), "nuclei", chosen={"contacts": True})
    assert cfg.train.contacts is True and cfg.train.loss == bundled["loss"]
    assert model_meta(cfg, 1)["contacts"] is True   # and the fine-tuned model records it for the next --init
