"""The flat public API holds: every function callable any number of times, in any order."""
import numpy as np

import unetkit
from conftest import tiny_config
from unetkit.data.synthetic import random_cells
from unetkit.io import write_image


def test_every_api_function_works_twice(synth, tmp_path):
    images, masks = synth
    runs = []
    for i in range(2):
        cfg = tiny_config(images, masks)
        res = unetkit.train(cfg, tmp_path / f"run{i}", verbose=0)
        assert res.best_path.is_file()
        runs.append(tmp_path / f"run{i}")
    for i in range(2):
        written = unetkit.predict(runs[0], [images], tmp_path / f"pred{i}", verbose=False)
        assert len(written) == 6
        summary = unetkit.evaluate(tmp_path / f"pred{i}", masks, out_dir=tmp_path / f"eval{i}", verbose=False)
        assert summary["images"] == 6
    labels_dir = tmp_path / "labels"
    rng = np.random.default_rng(3)
    for j in range(2):
        _, lab = random_cells(64, 5, rng=rng)
        write_image(labels_dir / f"{j:03d}.tif", lab.astype(np.uint16))
    for i in range(2):
        rows = unetkit.count(runs[1], [images], tmp_path / f"count{i}", verbose=False)
        assert len(rows) == 6 and all(r["count"] >= 0 for r in rows)
        s = unetkit.evaluate_instances(labels_dir, labels_dir, out_dir=tmp_path / f"inst{i}", verbose=False)
        assert s["pooled"][0]["f1"] == 1.0  # labels against themselves
    for _ in range(2):
        model, meta = unetkit.load_model(runs[0])
        assert meta["channels"] == 1 and model.output_shape[-1] == 1
        assert unetkit.build_model("unet_light", depth=2).count_params() > 0
    assert callable(unetkit.predict) and callable(unetkit.train) and callable(unetkit.count)


def test_one_path_is_one_input_not_a_list_of_letters(tmp_path, synth):
    """unetkit.count('model', 'images/', 'out') read 'images/' letter by letter ('i: input not found')."""
    images, _ = synth
    rows = unetkit.count("nuclei", str(images), tmp_path / "c", verbose=False)
    assert len(rows) == len(list(images.iterdir()))
    first = sorted(images.iterdir())[0]
    assert len(unetkit.predict("nuclei", first, tmp_path / "p", verbose=False)) == 1


def test_segment_gives_in_memory_what_predict_writes_for_the_file(base_model, synth, tmp_path):
    """unetkit.segment: one plane in memory, the same probabilities and classes as predict's files of it (so a
    notebook needs no folder of outputs), and a stack refused, not read as colour channels."""
    import pytest

    from unetkit.errors import UnetkitError
    from unetkit.io import read_array
    images, _ = synth
    first = sorted(images.iterdir())[0]
    unetkit.predict(base_model, first, tmp_path / "p", verbose=False)
    probs, classes = unetkit.segment(base_model, read_array(first))
    assert probs.shape == (64, 64, 1) and probs.dtype == np.float32 and classes.dtype == np.uint8
    assert np.allclose(probs[..., 0], read_array(tmp_path / "p" / f"{first.stem}_prob.tif"), atol=1e-6)
    assert np.array_equal(classes * 255, read_array(tmp_path / "p" / f"{first.stem}_mask.png"))
    assert 0 < classes.sum() < classes.size                       # the tiny model finds some cells, not all
    with pytest.raises(UnetkitError, match=r"stack: an image of shape \(3, 64, 64\) is not one 2-D plane"):
        unetkit.segment(base_model, np.zeros((3, 64, 64), np.uint8), name="stack")
