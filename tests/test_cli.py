"""End to end through the command line, on tiny synthetic data, plus every bad input."""
import json

import numpy as np
import pytest

from unetkit.cli import main
from unetkit.io import read_array, write_image
from unetkit.data.synthetic import write_dataset

TINY = ["--base-filters", "4", "--depth", "2", "--patch-size", "32", "--epochs", "2", "--steps-per-epoch", "3",
        "--batch-size", "2", "--precision", "float32", "--val-range", "4:6", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    images, masks = write_dataset(root / "data", n=6, size=64, seed=1)
    run = root / "run"
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(run), *TINY]) == 0
    return root, images, masks, run


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_train_writes_a_complete_run_folder(trained):
    _, _, _, run = trained
    for name in ["config.yaml", "best.keras", "last.keras", "history.csv", "curves.png", "summary.json", "state.json"]:
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["val"] == ["004", "005"]
    assert len((run / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left
    # best.keras is an inference copy (no optimizer state); last.keras keeps it for --resume
    assert (run / "best.keras").stat().st_size < (run / "last.keras").stat().st_size


def test_predict_and_evaluate(trained, tmp_path, capsys):
    root, images, masks, run = trained
    out = tmp_path / "pred"
    assert main(["predict", str(images), "--model", str(run), "--out", str(out), "--tile", "32", "--overlap", "8",
                 "--quiet"]) == 0
    for stem in ["000", "005"]:
        mask = read_array(out / f"{stem}_mask.png")
        assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
        prob = read_array(out / f"{stem}_prob.tif")
        assert prob.dtype == np.float32 and 0 <= prob.min() and prob.max() <= 1
        assert read_array(out / f"{stem}_overlay.png").shape == (64, 64, 3)
    assert main(["evaluate", "--pred", str(out), "--truth", str(masks), "--images", str(images),
                 "--task", "membranes"]) == 0
    assert (out / "grid.png").is_file()
    printed = capsys.readouterr().out
    assert "v_rand" in printed and "mean_iou" in printed
    data = json.loads((out / "evaluation.json").read_text())
    assert data["mean_over_images"]["images"] == 6
    assert 0 <= data["mean_over_images"]["mean_iou"] <= 1
    # a second prediction into the same folder is refused, not overwritten
    assert main(["predict", str(images), "--model", str(run), "--out", str(out), "--quiet"]) == 2
    assert "already exists from an earlier run" in _err(capsys)


def test_resume_continues_the_run(trained, tmp_path):
    _, images, masks, run = trained
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["train", "--out", str(copy), "--resume", "--quiet"]) == 0
    state = json.loads((copy / "state.json").read_text())
    assert state["epoch"] == 2  # already at its 2 epochs: resume loads and ends cleanly
    cfg = (copy / "config.yaml").read_text().replace("epochs: 2", "epochs: 3")
    (copy / "config.yaml").write_text(cfg)
    assert main(["train", "--out", str(copy), "--resume", "--quiet"]) == 0
    assert json.loads((copy / "state.json").read_text())["epoch"] == 3
    assert len((copy / "history.csv").read_text().splitlines()) == 4


def test_resume_takes_a_longer_budget_and_refuses_what_would_change_the_run(trained, tmp_path, capsys):
    """The usual way to continue is the same command line with --resume added: options equal to the saved ones
    pass, --epochs (or --time-limit) makes the run longer, and any other change is refused, not ignored (an
    ignored --epochs ended the run at once)."""
    _, images, masks, run = trained
    import shutil
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(copy), *TINY, "--resume",
                 "--epochs", "3"]) == 0
    assert json.loads((copy / "state.json").read_text())["epoch"] == 3
    assert "epochs: 3" in (copy / "config.yaml").read_text()
    for change in (["--lr", "0.5"], ["--images", str(masks)], ["--model", "resunet"], ["--no-augment"]):
        assert main(["train", "--out", str(copy), "--resume", "--epochs", "4", *change]) == 2
        assert f"{change[0]} would change it" in _err(capsys)
    assert json.loads((copy / "state.json").read_text())["epoch"] == 3          # nothing trained


def test_time_limit_stops_cleanly_and_keeps_a_checkpoint(trained, tmp_path):
    _, images, masks, _ = trained
    run = tmp_path / "run"
    args = ["train", "--images", str(images), "--masks", str(masks), "--out", str(run), *TINY,
            "--epochs", "50", "--time-limit", "0.0005"]
    assert main(args) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_by"] == "time limit" and summary["epochs"] < 50
    assert (run / "best.keras").is_file()


def test_training_without_a_validation_set_keeps_the_best_by_its_training_score(trained, tmp_path):
    """--val-fraction 0 (or one image, too few to split): Keras' CSVLogger still writes validation columns, all
    NA; the curves skip them (they crashed the first epoch's plot) and the best checkpoint follows the training
    metric."""
    _, images, masks, _ = trained
    run = tmp_path / "run"
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(run), *TINY,
                 "--val-fraction", "0", "--val-range", ""]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["val"] == [] and summary["monitor"] == "mean_iou" and summary["epochs"] == 2
    assert "NA" in (run / "history.csv").read_text() and (run / "curves.png").is_file()
    assert (run / "best.keras").is_file()


def test_existing_run_folder_is_refused(trained, capsys):
    _, images, masks, run = trained
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(run), *TINY]) == 2
    assert "already holds a training run" in _err(capsys)


def test_not_a_unetkit_model(tmp_path, trained, capsys):
    _, images, _, _ = trained
    fake = tmp_path / "model.keras"
    fake.write_bytes(b"PK\x03\x04 not a zip")
    assert main(["predict", str(images), "--model", str(fake), "--out", str(tmp_path / "o")]) == 2
    assert "model.keras: not a unetkit model" in _err(capsys)


def test_image_smaller_than_the_network_minimum(tmp_path, trained, capsys):
    _, _, _, run = trained
    tiny = write_image(tmp_path / "tiny.png", np.zeros((3, 40), np.uint8))
    assert main(["predict", str(tiny), "--model", str(run), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "tiny.png: image is 3x40, smaller than the network's minimum 4x4" in _err(capsys)


def test_training_image_smaller_than_minimum(tmp_path, capsys):
    write_image(tmp_path / "i/a.png", np.zeros((2, 2), np.uint8))
    write_image(tmp_path / "m/a.png", np.zeros((2, 2), np.uint8))
    args = ["train", "--images", str(tmp_path / "i"), "--masks", str(tmp_path / "m"), "--out", str(tmp_path / "r"),
            *TINY, "--val-fraction", "0", "--val-range", ""]
    assert main(args) == 2
    assert "a.png: image is 2x2, smaller than the network's minimum" in _err(capsys)


@pytest.mark.parametrize("case, expect", [
    ("missing", "image folder not found"),
    ("no_mask", "no mask named 001"),
    ("bad_values", "binary mask has 3 distinct values"),
    ("size", "mask is 64x60 but image"),
    ("truncated", "cannot read image"),
])
def test_bad_training_input_exits_2_with_one_line(tmp_path, capsys, case, expect):
    images, masks = write_dataset(tmp_path / "d", n=3, size=64, seed=0)
    if case == "missing":
        images = tmp_path / "nowhere"
    elif case == "no_mask":
        (masks / "001.png").unlink()
    elif case == "bad_values":
        write_image(masks / "001.png", np.arange(64 * 64).reshape(64, 64).astype(np.uint8) % 3)
    elif case == "size":
        write_image(masks / "001.png", np.zeros((64, 60), np.uint8))
    elif case == "truncated":
        (images / "001.png").write_bytes((images / "001.png").read_bytes()[:50])
    out = tmp_path / "run"
    rc = main(["train", "--images", str(images), "--masks", str(masks), "--out", str(out), *TINY, "--val-range", ""])
    assert rc == 2
    line = _err(capsys)
    assert expect in line and line.startswith("unetkit train: error:")
    assert not (out / "best.keras").exists()


def test_config_file_and_presets(tmp_path, capsys):
    from unetkit.config import load_config
    cfg = load_config(preset="seed")
    assert (cfg.model.base_filters, cfg.train.batch_size, cfg.train.learning_rate, cfg.data.sampling) == \
        (64, 2, 1e-4, "resize")
    bad = tmp_path / "c.yaml"
    bad.write_text("train:\n  epoch: 3\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "unknown setting train.epoch" in _err(capsys)


def test_weighted_loss_multiclass_rgb(tmp_path):
    """The paper's weighted loss, three classes and RGB input through the API."""
    from conftest import tiny_config
    from unetkit.data.synthetic import random_cells
    from unetkit.training import train
    rng = np.random.default_rng(0)
    for i in range(6):
        img, lab = random_cells(64, 6, rng=rng)
        write_image(tmp_path / f"i/{i}.png", np.dstack([img, img // 2, 255 - img]))
        cls = np.where(lab > 0, 1 + (lab % 2), 0).astype(np.uint8)
        write_image(tmp_path / f"m/{i}.png", cls)
    cfg = tiny_config(tmp_path / "i", tmp_path / "m", loss="weighted_bce")
    cfg.data.mask_mode, cfg.data.num_classes = "classes", 3
    res = train(cfg, tmp_path / "run", verbose=0)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["channels"] == 3 and res.best_path.is_file()
    from unetkit.checkpoint import load_model
    model, meta = load_model(res.best_path)
    assert meta["num_classes"] == 3 and model.output_shape[-1] == 3


def test_synthetic_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--data", "synthetic", "--minutes", "0.02", "--out", str(tmp_path / "demo")]) == 0
    out = tmp_path / "demo"
    for name in ["grid.png", "evaluation.csv", "demo.json", "run/curves.png", "run/best.keras"]:
        assert (out / name).is_file(), name
    # the 6 held-out test images (seed 1), not the 4 validation images that picked the checkpoint
    assert len(list((out / "predictions").glob("*_mask.png"))) == 6
    assert json.loads((out / "demo.json").read_text())["tta"] is True  # the demo predicts with flip TTA
    assert "demo finished" in capsys.readouterr().out
    assert main(["demo", "--data", "synthetic", "--out", str(out)]) == 2  # never over an earlier demo


def test_cosine_schedule_decays_the_learning_rate_over_the_run(synth, tmp_path):
    import keras

    from unetkit.config import load_config
    assert load_config().train.lr_schedule == "cosine"               # the default ...
    assert load_config(preset="seed").train.lr_schedule == "constant"  # ... but the seeds' recipe keeps its rate

    from unetkit.callbacks import RateSchedule
    from unetkit.training import train
    from tests.conftest import tiny_config
    cfg = tiny_config(*synth, lr_schedule="cosine", epochs=2, steps_per_epoch=4)
    result = train(cfg, tmp_path / "run", verbose=0)
    assert (tmp_path / "run" / "best.keras").exists() and result is not None
    for per_call in (1, 2):   # steps run inside one compiled call: the rate follows Keras' step index
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", steps_per_execution=per_call)
        seen = []
        record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
            float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
        x = np.zeros((8, 2), np.float32)
        model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0,
                  callbacks=[RateSchedule(1e-3, steps_per_epoch=4, epochs=2, budget_s=None, elapsed_before_s=0), record])
        assert len(seen) == 8 // per_call
        assert seen[0] == pytest.approx(1e-3)
        assert all(a > b for a, b in zip(seen, seen[1:]))  # strictly decreasing
        last = 8 - per_call                                 # the first step of the last call
        assert seen[-1] == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * last / 8)), rel=1e-5)


def test_warmup_raises_the_rate_from_zero_then_follows_the_schedule():
    from unetkit.config import load_config
    from unetkit.callbacks import RateSchedule
    cosine = RateSchedule(1e-3, 10, 10, None, 0, schedule="cosine", warmup=0.2)
    assert cosine.rate(0.0) == 0.0
    assert cosine.rate(0.1) == pytest.approx(0.5 * 1e-3 * 0.5 * (1 + np.cos(np.pi * 0.1)))   # half way up the ramp
    assert cosine.rate(0.5) == pytest.approx(1e-3 * 0.5)                                        # the cosine's own value
    constant = RateSchedule(1e-3, 10, 10, None, 0, schedule="constant", warmup=0.2)
    assert [constant.rate(p) for p in (0.05, 0.2, 0.9)] == pytest.approx([2.5e-4, 1e-3, 1e-3])
    assert RateSchedule(1e-3, 10, 10, None, 0).rate(0.0) == pytest.approx(1e-3)               # no warm-up by default
    assert load_config().train.warmup == 0.0


def test_bad_settings_are_refused_when_the_config_loads(tmp_path, capsys):
    cases = {"model:\n  name: vnet\n": "unknown model 'vnet'; choose one of attention_unet, resunet, unet",
             "train:\n  loss: focal\n": "unknown loss 'focal'; choose one of bce",
             "train:\n  learning_rate: -0.001\n": "train.learning_rate = -0.001 must be a positive number",
             "data:\n  sampling: crop\n": "data.sampling = 'crop' is not one of patch, resize",
             "train:\n  jit: maybe\n": "train.jit = 'maybe' is not one of auto, on, off",
             "train:\n  steps_per_execution: 0\n": "train.steps_per_execution = 0 must be a positive number",
             "train:\n  warmup: 1.5\n": "train.warmup = 1.5 must be a fraction of the run in [0, 1)",
             "train:\n  freeze: decoder\n": "train.freeze = 'decoder' is not one of none, encoder",
             "train:\n  mix: 1.5\n": "train.mix = 1.5 must be in [0, 1]",
             "train:\n  ema: 1.5\n": "train.ema = 1.5 must be a momentum in [0, 1)",
             "train:\n  time_limit: -1\n": "train.time_limit = -1 must be minutes > 0",
             # refused before any image is read or the run folder made (it held config.yaml and plan.yaml)
             "data:\n  patch_size: 30\n": "--patch-size 30 must be divisible by the network's size divisor 16 "
                                           "(it halves the patch at each level); e.g. 32",
             # settings that need --init pass the file's own check and are refused for the whole run
             "train:\n  freeze: encoder\n": "train.freeze = 'encoder' needs a model to start from",
             "train:\n  mix: 0.5\n": "train.mix = 0.5 mixes a fine-tuned model with its start"}
    for i, (text, message) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.yaml"
        bad.write_text(text)
        assert main(["train", "--config", str(bad), "--out", str(tmp_path / f"r{i}")]) == 2
        assert message in _err(capsys)
        assert not (tmp_path / f"r{i}").exists()


def test_cli_defaults_come_from_the_config_dataclasses():
    import argparse
    from unetkit.config import InstanceConfig, PredictConfig
    from unetkit import cli
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli._add_count(sub)
    args = parser.parse_args(["count", "x.png", "--model", "m", "--out", "o"])
    p, i = PredictConfig(), InstanceConfig()
    assert (args.tile, args.overlap, args.batch_size) == (p.tile, p.overlap, p.batch_size)
    assert args.split == i.split
    # thresholds are left unset so a model's calibrated values apply; without any, the dataclass defaults do
    from unetkit.instances import instance_settings
    given = dict(threshold=args.threshold, min_size=args.min_size, marker_threshold=args.marker_threshold,
                 min_distance=args.min_distance, seeds=args.seeds, distance_threshold=args.distance_threshold)
    assert instance_settings({}, **given) == i
    assert instance_settings({"instances": {"threshold": 0.4}}, **given).threshold == 0.4


def test_tensorboard_logs_on_request(synth, tmp_path):
    from tests.conftest import tiny_config
    from unetkit.training import train
    cfg = tiny_config(*synth, tensorboard=True)
    train(cfg, tmp_path / "run", verbose=0)
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_a_missing_extra_is_named_before_anything_is_read_or_written(synth, tmp_path, monkeypatch):
    """--tensorboard without TensorBoard installed used to fail after the run folder was written."""
    import importlib.util

    import pytest

    from tests.conftest import tiny_config
    from unetkit.errors import UnetkitError
    from unetkit.training import train
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else
                        find_spec(name, *a))
    with pytest.raises(UnetkitError, match=r"--tensorboard needs TensorBoard: pip install 'unetkit\[tensorboard\]'"):
        train(tiny_config(*synth, tensorboard=True), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_backend_start_up_noise_is_filtered_but_warnings_stay():
    from unetkit._backend import filter_noise
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 port.cc:153] oneDNN custom operations are on. You may see slightly different results.\n"
            "I0000 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use available CPU instructions\n"
            "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow "
            "with the appropriate compiler flags.\n"
            "W0000 something.cc:1] a real warning about your data\n")
    assert filter_noise(text) == "W0000 something.cc:1] a real warning about your data\n"


def test_commands_start_quietly(tmp_path):
    import subprocess
    import sys
    res = subprocess.run([sys.executable, "-m", "unetkit.cli", "models"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "unet_light" in res.stdout
    assert filter_lines(res.stderr) == []


def filter_lines(text):
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "count", "plan", "tune", "calibrate", "demo",
                                     "models"])
def test_every_command_prints_its_help(command, capsys):
    # argparse formats help lazily: a stray '%' in a help string only fails when --help is asked for
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: unetkit {command}" in capsys.readouterr().out
