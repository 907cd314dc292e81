"""The bundled nuclei model, on DSB 2018 dev images it never trained on (../shared/data/dsb2018)."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from unetkit.cli import main
from unetkit.data.bundled import bundled_model
from unetkit.io import read_array
from unetkit.data.sampling import appearance
from unetkit.matching import matching_dataset

REPO = Path(__file__).resolve().parents[1]
DSB = REPO.parent / "shared" / "data" / "dsb2018"


def dev_images(kind: str, n: int) -> list[Path]:
    """The first ``n`` dev-split images of one appearance group, smallest first (fast)."""
    dev = json.loads((REPO / "benchmarks" / "nuclei" / "split.json").read_text())["dev"]
    files = [DSB / "images" / f"{name}.png" for name in dev]
    files = [f for f in files if appearance(read_array(f)) == kind]
    return sorted(files, key=lambda f: read_array(f).size)[:n]


def test_bundled_model_is_listed(capsys):
    assert bundled_model("nuclei") is not None
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "nuclei" in out and "nuclei.md" in out  # with its model card
    assert "count settings: threshold 0.4, marker_threshold 0.7, smooth 2, min_score 0.6" in out   # and count's defaults


@pytest.mark.skipif(not DSB.is_dir(), reason=f"needs the DSB 2018 data at {DSB}")
@pytest.mark.parametrize("kind", ["gray-dark", "colour-bright"])
def test_bundled_model_counts_unseen_nuclei(tmp_path, kind):
    files = dev_images(kind, 3)
    assert len(files) == 3
    out = tmp_path / "counts"
    assert main(["count", *map(str, files), "--model", "nuclei", "--out", str(out), "--quiet"]) == 0
    counted = {r["file"]: int(r["count"]) for r in csv.DictReader(open(out / "counts.csv"))}
    truth = {f.name: read_array(DSB / "masks" / f.name) for f in files}
    n_true = sum(len(np.unique(t)) - 1 for t in truth.values())
    assert abs(sum(counted.values()) - n_true) <= 0.2 * n_true
    pairs = [(truth[f.name], read_array(out / f"{f.stem}_labels.tif")) for f in files]
    assert matching_dataset(pairs, (0.5,))[0].f1 >= 0.6


@pytest.mark.skipif(not DSB.is_dir(), reason=f"needs the DSB 2018 data at {DSB}")
def test_count_averages_the_four_flips_unless_told_not_to(tmp_path):
    """count's default is flip TTA (config.COUNT_TTA); --no-tta predicts the image once."""
    from unetkit.config import PredictConfig
    from unetkit.counting import count
    from unetkit.predictor import Predictor
    image = dev_images("gray-dark", 1)
    labels = {}
    for name, model in (("default", "nuclei"), ("tta", Predictor.load("nuclei", PredictConfig(tta=True))),
                        ("once", Predictor.load("nuclei", PredictConfig(tta=False)))):
        count(model, image, tmp_path / name, verbose=False)
        labels[name] = read_array(tmp_path / name / f"{image[0].stem}_labels.tif")
    assert np.array_equal(labels["default"], labels["tta"])
    assert not np.array_equal(labels["default"], labels["once"])
    assert main(["count", str(image[0]), "--model", "nuclei", "--out", str(tmp_path / "cli"), "--quiet",
                 "--no-tta"]) == 0
    assert np.array_equal(read_array(tmp_path / "cli" / f"{image[0].stem}_labels.tif"), labels["once"])
