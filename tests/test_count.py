"""`unetkit count` and `evaluate --instances` end to end, with a tiny boundary-aware model."""
import csv
import json

import numpy as np
import pytest

from unetkit.cli import main
from unetkit.io import read_array, write_image
from unetkit.data.prepare import prepare
from unetkit.data.synthetic import write_dataset


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    root = tmp_path_factory.mktemp("count")
    images, masks = write_dataset(root / "data", n=6, size=64, seed=3, instances=True)
    run = root / "run"
    assert main(["train", "--images", str(images), "--masks", str(masks), "--out", str(run),
                 "--mask-mode", "instances", "--target", "boundary", "--loss", "weighted_bce",
                 "--base-filters", "4", "--depth", "2", "--patch-size", "32", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "2", "--precision", "float32", "--val-range", "4:6",
                 "--quiet"]) == 0
    out = root / "counts"
    assert main(["count", str(images), "--model", str(run), "--out", str(out), "--tile", "32", "--overlap", "8",
                 "--pixel-size", "0.5", "--min-size", "1", "--quiet"]) == 0
    return root, images, masks, run, out


def test_count_writes_every_file_and_areas_match_the_labels(counted):
    root, images, masks, run, out = counted
    for name in ["counts.csv", "objects.csv", "sizes.png"]:
        assert (out / name).is_file()
    with open(out / "counts.csv") as fh:
        counts = {r["file"]: int(r["count"]) for r in csv.DictReader(fh)}
    with open(out / "objects.csv") as fh:
        objects = list(csv.DictReader(fh))
    assert len(counts) == 6
    for stem in ["000", "003"]:
        labels = read_array(out / f"{stem}_labels.tif")
        assert labels.dtype == np.uint16 and labels.shape == (64, 64)
        assert labels.max() == counts[f"{stem}.png"]
        assert read_array(out / f"{stem}_count.png").shape == (64, 64, 3)
        rows = [r for r in objects if r["file"] == f"{stem}.png"]
        assert len(rows) == labels.max()
        for r in rows:  # areas in um^2 at 0.5 um/px; the network's peak probability in the object, 0-1
            assert float(r["area"]) == pytest.approx((labels == int(r["id"])).sum() * 0.25)
            assert 0 < float(r["score"]) <= 1


def test_evaluate_instances(counted, capsys):
    root, images, masks, run, out = counted
    assert main(["evaluate", "--instances", "--pred", str(out), "--truth", str(masks)]) == 0
    printed = capsys.readouterr().out
    assert "count error" in printed
    data = json.loads((out / "instance_evaluation.json").read_text())
    assert data["images"] == 6 and len(data["pooled"]) == 10
    assert data["pooled"][0]["thresh"] == 0.5
    truth_total = sum(int(read_array(masks / f"{i:03d}.png").max()) for i in range(6))
    assert data["pooled"][0]["n_true"] == truth_total
    kinds, at_half = data["errors_at_0.5"], data["pooled"][0]   # every unmatched object is given one kind
    assert kinds["merged"] + kinds["split"] + kinds["missed"] + kinds["shape"] == at_half["fn"]
    assert kinds["fragment"] + kinds["false"] == at_half["fp"]
    assert "errors at IoU 0.5, unmatched true objects:" in printed
    # perfect predictions score 1: evaluate the truth against itself
    assert main(["evaluate", "--instances", "--pred", str(masks), "--truth", str(masks),
                 "--out", str(root / "self")]) == 0
    self_scores = json.loads((root / "self" / "instance_evaluation.json").read_text())
    assert self_scores["pooled"][0]["f1"] == 1.0 and self_scores["count"]["median_rel_error"] == 0.0
    assert not any(self_scores["errors_at_0.5"].values())


def test_binary_masks_given_as_instances_are_refused(tmp_path, capsys):
    lab = np.zeros((32, 32), np.uint8)
    lab[2:8, 2:8] = 255
    lab[20:28, 20:28] = 255
    write_image(tmp_path / "p/a_labels.tif", lab)
    write_image(tmp_path / "t/a.png", lab)
    assert main(["evaluate", "--instances", "--pred", str(tmp_path / "p"), "--truth", str(tmp_path / "t")]) == 2
    assert "looks like a binary mask" in capsys.readouterr().err


def test_a_run_resumed_over_tables_without_scores_keeps_every_column_in_place(counted, tmp_path):
    """--skip-existing over per-image tables an earlier version wrote (no score column): objects.csv takes their
    rows by column name, the score left empty, the pixel size still under its own header."""
    import shutil
    root, images, masks, run, out = counted
    again = tmp_path / "again"
    shutil.copytree(out, again)
    with open(again / "000_objects.csv", newline="") as fh:
        old = [{k: v for k, v in r.items() if k != "score"} for r in csv.DictReader(fh)]
    with open(again / "000_objects.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    same = ["--tile", "32", "--overlap", "8", "--pixel-size", "0.5", "--min-size", "1"]   # the earlier run's options
    assert main(["count", str(images), "--model", str(run), "--out", str(again), "--skip-existing", "--quiet",
                 *same]) == 0
    with open(again / "objects.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    resumed = [r for r in rows if r["file"] == "000.png"]
    assert len(resumed) == len(old) and all(r["score"] == "" and r["pixel_size_um"] == "0.5" for r in resumed)
    assert all(float(r["score"]) > 0 for r in rows if r["file"] != "000.png")


def test_count_refuses_to_overwrite(counted, capsys):
    root, images, masks, run, out = counted
    assert main(["count", str(images), "--model", str(run), "--out", str(out), "--quiet"]) == 2
    assert "already exists from an earlier run" in capsys.readouterr().err


def test_overwrite_removes_what_the_earlier_run_counted_and_this_one_does_not(counted, tmp_path, capsys):
    """A rerun on fewer images with --overwrite left the others' label images, which evaluate then scored as this
    run's; the earlier run's own counts.csv says which were its, and only those go."""
    import shutil
    root, images, masks, run, out = counted
    again = tmp_path / "again"
    shutil.copytree(out, again)
    (again / "notes_labels.tif").write_bytes(b"not the run's")      # a file the earlier run did not record
    first = sorted(images.iterdir())[0]
    assert main(["count", str(first), "--model", str(run), "--out", str(again), "--overwrite", "--tile", "32",
                 "--overlap", "8", "--min-size", "1"]) == 0
    assert " in 1 image; tables in " in capsys.readouterr().err     # counted in words: not "1 images"
    assert sorted(p.name for p in again.glob("*_labels.tif")) == [f"{first.stem}_labels.tif", "notes_labels.tif"]
    assert not list(again.glob("001*")) and [r["file"] for r in csv.DictReader(open(again / "counts.csv"))] == \
        [first.name]


def test_the_settings_that_made_a_folder_are_written_beside_it_and_a_changed_rerun_is_refused(counted, tmp_path,
                                                                                               capsys):
    """count.yaml / predict.yaml: the model, the inputs and the effective settings (the model's own where none was
    given); a later run into the folder with other settings is refused (--skip-existing would mix two kinds of
    output), with the same ones it adds its inputs; how a run executes (tiles per call) is not compared."""
    import yaml
    root, images, masks, run, out = counted
    record = yaml.safe_load((out / "count.yaml").read_text())
    assert record["command"] == "count" and record["model"] == str(run) and record["pixel_size"] == 0.5
    assert record["inputs"] == [str(p.resolve()) for p in sorted(images.iterdir())]
    assert record["instances"]["min_size"] == 1 and record["predict"]["tile"] == 32 and record["predict"]["tta"]
    first, second = sorted(images.iterdir())[:2]
    base = ["count", "--model", str(run), "--out", str(tmp_path / "c"), "--tile", "32", "--overlap", "8", "--quiet"]
    assert main([*base[:1], str(first), *base[1:]]) == 0
    assert main([*base[:1], str(second), *base[1:], "--min-size", "40", "--skip-existing"]) == 2
    assert "instances.min_size: 15 then, 40 now" in capsys.readouterr().err
    assert not (tmp_path / "c" / f"{second.stem}_labels.tif").exists()
    assert main([*base[:1], str(second), *base[1:], "--batch-size", "1", "--skip-existing"]) == 0
    assert yaml.safe_load((tmp_path / "c" / "count.yaml").read_text())["inputs"] == \
        [str(first.resolve()), str(second.resolve())]
    assert main(["predict", str(first), "--model", str(run), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    made = yaml.safe_load((tmp_path / "p" / "predict.yaml").read_text())
    from unetkit.checkpoint import read_meta
    assert made["predict"]["threshold"] == (read_meta(run / "best.keras").get("threshold") or 0.5)  # the effective one
    assert main(["predict", str(first), "--model", str(run), "--out", str(tmp_path / "p"), "--quiet", "--overwrite",
                 "--threshold", "0.3"]) == 0
    assert yaml.safe_load((tmp_path / "p" / "predict.yaml").read_text())["predict"]["threshold"] == 0.3
    # another image into the same folder at another threshold would sit beside masks made at 0.3
    assert main(["predict", str(second), "--model", str(run), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert "predict.threshold: 0.3 then" in capsys.readouterr().err and not list((tmp_path / "p").glob("001*"))


def test_a_record_written_before_a_setting_existed_compares_it_as_its_default(counted, tmp_path, capsys):
    """count.yaml of an earlier version lacks a newer setting (planes.t): that run ran as its default, so
    --skip-existing with the default goes on, and only a really different value is refused."""
    import yaml
    root, images, masks, run, out = counted
    first, second = sorted(images.iterdir())[:2]
    base = ["count", "--model", str(run), "--out", str(tmp_path / "c"), "--tile", "32", "--overlap", "8", "--quiet"]
    assert main([*base[:1], str(first), *base[1:]]) == 0
    record = yaml.safe_load((tmp_path / "c" / "count.yaml").read_text())
    del record["planes"]["t"]                                       # as the version before --t wrote it
    (tmp_path / "c" / "count.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    assert main([*base[:1], str(second), *base[1:], "--t", "track", "--skip-existing"]) == 2
    assert "planes.t: 'frames' then, 'track' now" in capsys.readouterr().err
    assert main([*base[:1], str(second), *base[1:], "--skip-existing"]) == 0


def test_invert_auto_makes_objects_bright():
    dark_on_bright = np.full((32, 32), 200, np.uint8)
    dark_on_bright[10:20, 10:20] = 30
    x = prepare(dark_on_bright, 1, "percentile", "auto")
    assert x[15, 15, 0] > x[0, 0, 0]
    bright_on_dark = 255 - dark_on_bright
    y = prepare(bright_on_dark, 1, "percentile", "auto")
    assert y[15, 15, 0] > y[0, 0, 0]
    assert prepare(dark_on_bright, 1, "percentile", "never")[15, 15, 0] < 0.5


def test_invert_auto_reads_the_background_even_where_objects_cover_most_of_the_image():
    """Crowded textured nuclei over 65 % of a flat background: the median is the nuclei's, the
    background is the histogram's peak (a crowded H&E field was left uninverted by the median)."""
    rng = np.random.default_rng(0)
    crowded = np.full((100, 100), 200.0)
    crowded[:, :65] = rng.normal(70, 25, (100, 65))            # dark textured nuclei, most of the image
    crowded = np.clip(crowded, 0, 255).astype(np.uint8)
    assert np.median(crowded) < 128                             # the old rule's statistic says "dark"
    x = prepare(crowded, 1, "percentile", "auto")
    assert x[:, :65].mean() > x[:, 65:].mean()                   # inverted: the nuclei come out bright
    y = prepare(255 - crowded, 1, "percentile", "auto")          # bright crowded nuclei on a dark background
    assert y[:, :65].mean() > y[:, 65:].mean()                   # left as they are
    rgb = np.repeat(crowded[..., None], 3, axis=2)               # per-channel normalisation decides alike
    from unetkit.data.prepare import channel_params
    assert channel_params(rgb, "auto").invert and not channel_params(255 - rgb, "auto").invert


class DiskModel:
    """A stand-in network: pixels brighter than 0.5 are 'object' (sigmoid output)."""

    def predict_on_batch(self, x):
        return (x[..., :1] > 0.5).astype(np.float32)


def test_objects_cut_by_tile_seams_are_counted_once(tmp_path):
    from skimage.draw import disk
    from unetkit.config import PredictConfig
    from unetkit.counting import count
    from unetkit.prediction import Predictor
    img = np.zeros((300, 300), np.uint8)
    centers = [(y, x) for y in range(30, 300, 60) for x in range(30, 300, 60)]
    for c in centers:
        img[disk(c, 14, shape=img.shape)] = 255
    write_image(tmp_path / "big.png", img)
    meta = {"depth": 2, "channels": 1, "norm": "scale", "invert": "never"}
    # 64 px tiles with 8 px overlap: almost every disk is cut by a seam
    predictor = Predictor(DiskModel(), meta, PredictConfig(tile=64, overlap=8))
    rows = count(predictor, [tmp_path / "big.png"], tmp_path / "out", verbose=False)
    assert rows[0]["count"] == len(centers) == 25
    labels = read_array(tmp_path / "out" / "big_labels.tif")
    assert np.array_equal(labels > 0, img > 0)


@pytest.mark.parametrize("command, option, message", [
    ("predict", ["--threshold", "1.5"], "--threshold 1.5: a probability between 0 and 1"),
    ("predict", ["--tile", "10"], "--tile 10: must be a whole number of at least 16"),
    ("predict", ["--batch-size", "0"], "--batch-size 0: must be a whole number of at least 1"),
    ("predict", ["--tile", "100", "--overlap", "64"], "--tile 100 must exceed twice --overlap 64"),
    ("count", ["--threshold", "1.5"], "--threshold 1.5: a probability between 0 and 1"),
    ("count", ["--marker-threshold", "2"], "--marker-threshold 2.0: a probability"),
    ("count", ["--min-distance", "0"], "--min-distance 0: px, at least 1"),
    ("count", ["--min-size", "-3"], "--min-size -3: px, at least 0"),
    ("count", ["--distance-threshold", "0"], "--distance-threshold 0.0: a probability"),
])
def test_settings_that_cannot_work_are_refused_before_any_output(tmp_path, capsys, command, option, message):
    """A threshold of 1.5 wrote empty masks (0 objects) without a word; a tile smaller than its margins or a batch
    of 0 failed deep in the tiling with a traceback."""
    write_image(tmp_path / "in" / "a.png", np.zeros((64, 64), np.uint8))
    assert main([command, str(tmp_path / "in"), "--model", "nuclei", "--out", str(tmp_path / "o"), *option]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
