"""Block-wise prediction and counting: equal to the in-memory path, objects stitched
across seams, microscope axes, and bad inputs refused or skipped."""
import csv
import json

import numpy as np
import pytest
import tifffile
from skimage.draw import disk

from unetkit.config import BlockConfig, PredictConfig
from unetkit.counting import count
from unetkit.io import open_image, read_array, write_image
from unetkit.planes import AxisChoice
from unetkit.prediction import predict
from unetkit.predictor import Predictor


class BlurModel:
    """A stand-in network with context: a 9x9 box filter of the first channel, squashed to (0, 1).
    Its output depends on the tile it sees, so only identical tiling gives identical output."""

    def predict_on_batch(self, x):
        from scipy import ndimage
        y = ndimage.uniform_filter(x[..., :1], size=(1, 9, 9, 1), mode="constant")
        return 1 / (1 + np.exp(-8 * (y - 0.5)))


def predictor(tile=64, overlap=8, model=None):
    meta = {"depth": 2, "channels": 1, "norm": "percentile", "invert": "never"}
    return Predictor(model or BlurModel(), meta, PredictConfig(tile=tile, overlap=overlap))


def cells_on_seams(size=300, block=128, r=9, seed=0):
    """Disks on every block seam and crossing, plus some inside blocks."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    truth = np.zeros((size, size), np.int32)
    centres = [(s, c) for s in range(block, size, block) for c in range(20, size - 20, 45)]
    centres += [(c, s) for s in range(block, size, block) for c in range(42, size - 20, 45)]
    centres += [(int(y), int(x)) for y, x in rng.integers(20, size - 20, (8, 2))]
    k = 0
    for y, x in centres:
        rr, cc = disk((y, x), r, shape=img.shape)
        if truth[rr, cc].any():
            continue
        k += 1
        truth[rr, cc] = k
        img[rr, cc] = 200
    return img, truth


def test_block_path_equals_the_in_memory_path(tmp_path):
    img = (np.random.default_rng(1).random((300, 260)) * 60000).astype(np.uint16)
    write_image(tmp_path / "a.tif", img)
    p = predictor()
    predict(p, [tmp_path / "a.tif"], tmp_path / "mem", verbose=False)
    blocks = BlockConfig(mode="always", block_size=128, chunk=64, max_pixels=10)
    predict(p, [tmp_path / "a.tif"], tmp_path / "blk", verbose=False, blocks=blocks)
    mem = read_array(tmp_path / "mem" / "a_prob.tif")
    blk = open_image(tmp_path / "blk" / "a_prob.ome.zarr")
    assert blk.axes == "YX"
    np.testing.assert_allclose(np.asarray(blk.data[0, 0, 0]), mem, atol=1e-6)
    assert (tmp_path / "blk" / "a_overlay.png").is_file()
    assert not [q for q in (tmp_path / "blk").iterdir() if q.name.startswith(".")]  # no temporary folders left


@pytest.mark.parametrize("scale", [0.5, 0.35, 1.41])
def test_a_model_with_a_working_scale_is_predicted_block_wise_as_in_memory(tmp_path, scale):
    """Blocks compute the resized pixels they need with OpenCV's weights from global coordinates:
    seams stay exact and the result is the in-memory resize-predict-resize."""
    img = (np.random.default_rng(2).random((300, 260)) * 60000).astype(np.uint16)
    write_image(tmp_path / "a.tif", img)
    p = predictor()
    p.meta["scale"] = scale
    predict(p, [tmp_path / "a.tif"], tmp_path / "mem", verbose=False)
    blocks = BlockConfig(mode="always", block_size=128, chunk=64, max_pixels=10)
    predict(p, [tmp_path / "a.tif"], tmp_path / "blk", verbose=False, blocks=blocks)
    mem = read_array(tmp_path / "mem" / "a_prob.tif")
    blk = np.asarray(open_image(tmp_path / "blk" / "a_prob.ome.zarr").data[0, 0, 0])
    assert blk.shape == mem.shape == img.shape
    np.testing.assert_allclose(blk, mem, atol=1e-4)


def test_resizing_a_window_equals_resizing_the_whole_image():
    import cv2

    from unetkit.blocks.rescale import resample, resized_window, source_window
    x = np.random.default_rng(0).random((333, 250, 2)).astype(np.float32)
    for s in (0.125, 0.71, 1.41, 2.83):
        H, W = round(333 * s), round(250 * s)
        whole = cv2.resize(x, (W, H), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        rows, cols = np.arange(H // 3, H), np.r_[W // 2:0:-1, 0:W // 2]   # any order, mirrored repeats
        r0, r1, wr = source_window(rows, 333, H)
        c0, c1, wc = source_window(cols, 250, W)
        np.testing.assert_allclose(resample(x[r0:r1, c0:c1], (r0, wr), (c0, wc)), whole[rows][:, cols], atol=2e-5)
        # built in small pieces (bounded native reads), the window is the same
        pieces = resized_window(lambda a, b, c, d: x[a:b, c:d], rows, cols, (333, 250), (H, W), piece=7)
        np.testing.assert_allclose(pieces, whole[rows][:, cols], atol=2e-5)


def test_streamed_statistics_equal_in_memory_ones_for_integer_images():
    from unetkit.data.prepare import norm_params, to_channels
    from unetkit.io import LazyImage
    from unetkit.io.image import canonical
    from unetkit.planes import plane_params, select
    import dask.array as da
    arr = (np.random.default_rng(2).gamma(2, 900, (333, 301))).astype(np.uint16)
    data, axes = canonical(da.from_array(arr, chunks=100), "YX")
    sel = select(LazyImage(None, data, axes), 1)
    streamed = plane_params(sel.plane(0, 0), 1, "percentile", "auto", "refuse", block=64, in_memory_pixels=0)
    whole = norm_params(to_channels(arr, 1), "percentile", "auto")
    assert streamed.offset == pytest.approx(whole.offset, abs=1e-3)
    assert streamed.denom == pytest.approx(whole.denom, abs=1e-3)
    assert streamed.invert == whole.invert


def test_count_block_wise_stitches_cells_on_every_seam(tmp_path):
    img, truth = cells_on_seams()
    write_image(tmp_path / "cells.png", img)

    class Threshold:
        def predict_on_batch(self, x):
            return (x[..., :1] > 0.5).astype(np.float32)

    p = predictor(tile=64, overlap=8, model=Threshold())
    mem = count(p, [tmp_path / "cells.png"], tmp_path / "mem", verbose=False)
    blocks = BlockConfig(mode="always", block_size=128, label_block=128, chunk=64, halo=32)
    blk = count(p, [tmp_path / "cells.png"], tmp_path / "blk", verbose=False, blocks=blocks)
    assert mem[0]["count"] == blk[0]["count"] == truth.max()
    labels = np.asarray(open_image(tmp_path / "blk" / "cells_labels.ome.zarr").data[0, 0, 0])
    assert len(np.unique(labels[labels > 0])) == truth.max()    # one id per cell, unique over the image
    # every true cell is exactly one predicted object (none cut at a seam)
    for k in range(1, truth.max() + 1):
        ids = np.unique(labels[truth == k])
        assert len(ids) == 1 and ids[0] > 0
        assert np.array_equal(labels == ids[0], truth == k)
    with open(tmp_path / "blk" / "objects.csv") as fh:
        rows = list(csv.DictReader(fh))
    with open(tmp_path / "mem" / "objects.csv") as fh:
        mem_rows = list(csv.DictReader(fh))
    assert len(rows) == len(mem_rows) == truth.max()
    key = lambda r: (round(float(r["centroid_y"]), 3), round(float(r["centroid_x"]), 3), float(r["area"]))
    assert sorted(map(key, rows)) == sorted(map(key, mem_rows))


def test_objects_the_network_is_unsure_of_are_dropped_alike_in_memory_and_block_wise(tmp_path, capsys):
    """--min-score drops an object by its highest probability, which a block reads whole only for the objects it
    owns: pale cells on the seams go in both paths, bright ones stay, each once."""
    from unetkit.config import InstanceConfig
    img, truth = cells_on_seams()
    pale = (truth % 2 == 0) & (truth > 0)
    img[pale] = 130                      # normalised to ~0.65 against the bright cells' 1.0
    write_image(tmp_path / "cells.png", img)

    class Graded:                        # probability = normalised intensity: pale cells are unsure foreground
        def predict_on_batch(self, x):
            return np.clip(x[..., :1], 0, 1).astype(np.float32)

    p = predictor(tile=64, overlap=8, model=Graded())
    sure = InstanceConfig(min_score=0.8, diameter="off")
    blocks = BlockConfig(mode="always", block_size=128, label_block=128, chunk=64, halo=32)
    every = count(p, [tmp_path / "cells.png"], tmp_path / "all", verbose=False, instance_cfg=InstanceConfig(diameter="off"))
    capsys.readouterr()
    mem = count(p, [tmp_path / "cells.png"], tmp_path / "mem", instance_cfg=sure)
    said_mem = capsys.readouterr()
    blk = count(p, [tmp_path / "cells.png"], tmp_path / "blk", instance_cfg=sure, blocks=blocks)
    said_blk = capsys.readouterr()
    bright = len(np.unique(truth[(truth > 0) & ~pale]))
    assert every[0]["count"] == truth.max() and mem[0]["count"] == blk[0]["count"] == bright < truth.max()
    n_pale = truth.max() - bright                # each dropped object is said once, in both paths
    assert f"cells.png: {bright} objects ({n_pale} under score 0.8 dropped)" in said_mem.out + said_mem.err
    assert f"cells.png: {n_pale} objects scored under --min-score 0.8 and were dropped" in said_blk.out + said_blk.err
    labels = np.asarray(open_image(tmp_path / "blk" / "cells_labels.ome.zarr").data[0, 0, 0])
    assert not labels[pale].any() and (labels[(truth > 0) & ~pale] > 0).all()
    # each object's score in the tables is the value the filter read: pale cells under 0.8, bright ones over,
    # the same block-wise as in memory
    tables = {}
    for run in ("all", "mem", "blk"):
        with open(tmp_path / run / "objects.csv") as fh:
            tables[run] = {truth[round(float(r["centroid_y"])), round(float(r["centroid_x"]))]: float(r["score"])
                           for r in csv.DictReader(fh)}
    assert sorted(tables["all"]) == list(range(1, truth.max() + 1))
    assert all((score < 0.8) == (k % 2 == 0) for k, score in tables["all"].items())
    assert tables["mem"] == pytest.approx(tables["blk"]) and min(tables["blk"].values()) >= 0.8


def test_distributed_local_cluster_equals_threads(tmp_path, tiny_run):
    distributed = pytest.importorskip("distributed")  # a core dependency: this never skips in CI
    img = (np.random.default_rng(4).random((200, 180)) * 255).astype(np.uint8)
    write_image(tmp_path / "x.png", img)
    blocks = BlockConfig(mode="always", block_size=128, chunk=64)
    predict(tiny_run, [tmp_path / "x.png"], tmp_path / "threads", verbose=False, blocks=blocks)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        blocks.scheduler = c.scheduler_address
        predict(tiny_run, [tmp_path / "x.png"], tmp_path / "cluster", verbose=False, blocks=blocks)
    a = np.asarray(open_image(tmp_path / "threads" / "x_prob.ome.zarr").data)
    b = np.asarray(open_image(tmp_path / "cluster" / "x_prob.ome.zarr").data)
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import tiny_config
    from unetkit.data.synthetic import write_dataset
    from unetkit.training import train
    root = tmp_path_factory.mktemp("tiny")
    images, masks = write_dataset(root / "data", n=6, size=64, seed=1)
    train(tiny_config(images, masks), root / "run", verbose=0)
    return str(root / "run")


def test_a_preview_whose_ids_do_not_run_from_one_is_still_drawn():
    """NAME_count.png of a plane over 2048 px is drawn from a coarser pyramid level, where an object thinner than
    its pixels vanishes, and a tracked frame holds the movie's ids: ids that do not run 1..N. The preview draws the
    objects it holds (it failed the whole image, after every other output was written, on a missing id)."""
    from unetkit.viz import count_overlay
    labels = np.zeros((256, 256), np.int64)
    labels[105:115, 5:15], labels[130:140, 130:140] = 7, 1500
    drawn = count_overlay(np.zeros((256, 256), np.uint8), labels)
    assert (drawn[105, 5:15] > 0).any() and (drawn[130, 130:140] > 0).any()
    assert not np.array_equal(drawn[105, 5], drawn[130, 130])  # each object its own colour
    # the count written on it is the plane's, where the caller knows it (here 2 objects; 1500 is an id)
    told = count_overlay(np.zeros((256, 256), np.uint8), labels, count=3)
    assert not np.array_equal(told[:40], drawn[:40]) and np.array_equal(told[40:], drawn[40:])
