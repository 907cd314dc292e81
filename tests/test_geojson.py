"""Counted objects as GeoJSON (QuPath detections): outlines at pixel centres, measurements from the table,
the same features block-wise as in memory (ids across seams, z planes), and nothing half-written."""
import csv
import json

import numpy as np
import pytest
import tifffile
from skimage.draw import disk

from unetkit.config import BlockConfig, PredictConfig
from unetkit.counting import count
from unetkit.io.geojson import FeatureWriter, object_geometries, outline, write_objects
from unetkit.planes import AxisChoice
from unetkit.predictor import Predictor
from unetkit.io import write_image


class Threshold:
    def predict_on_batch(self, x):
        return (x[..., :1] > 0.5).astype(np.float32)


def threshold_model():
    return Predictor(Threshold(), {"depth": 2, "channels": 1, "norm": "percentile", "invert": "never"},
                     PredictConfig(tile=64, overlap=8))


def shoelace(ring):
    x, y = np.array(ring).T
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_a_rectangle_outline_runs_through_its_edge_pixels_centres():
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:10] = True                                   # rows 2-5, columns 3-9
    g = outline(mask[2:6, 3:10], offset=(2, 3))
    assert g["type"] == "Polygon"
    ring = g["coordinates"][0]
    assert ring[0] == ring[-1]
    xs, ys = zip(*ring)
    assert (min(xs), max(xs), min(ys), max(ys)) == (3.5, 9.5, 2.5, 5.5)
    assert shoelace(ring) == pytest.approx(6 * 3)


def test_objects_in_pieces_and_single_pixel_lines_keep_an_area():
    labels = np.zeros((20, 20), np.int32)
    labels[2:6, 2:6] = 1
    labels[10:14, 10:14] = 1                                 # one object in two pieces
    labels[16, 3:9] = 2                                      # a one-pixel line
    got = dict(object_geometries(labels))
    assert got[1]["type"] == "MultiPolygon" and len(got[1]["coordinates"]) == 2
    assert shoelace(got[2]["coordinates"][0]) == pytest.approx(6.0)   # the line's pixels as a 6 x 1 box


def test_write_objects_measures_each_feature_and_leaves_no_file_on_error(tmp_path):
    labels = np.zeros((40, 40), np.int32)
    labels[disk((10, 10), 5)] = 1
    labels[disk((28, 25), 7)] = 2
    rows = [{"id": 1, "area": 81.0, "file": "a.png"}, {"id": 2, "area": 149.0, "file": "a.png"}]
    path = write_objects(tmp_path / "a.geojson", labels, rows, z=3, t=1)
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    f2 = doc["features"][1]
    assert f2["properties"] == {"objectType": "detection", "name": "2", "measurements": {"id": 2.0, "area": 149.0}}
    assert f2["geometry"]["plane"] == {"c": -1, "z": 3, "t": 1}
    import cv2
    ring = np.array(f2["geometry"]["coordinates"][0], np.float32)
    assert cv2.pointPolygonTest(ring, (25.5, 28.5), False) > 0        # the disk's centre pixel is inside
    with pytest.raises(ValueError):
        with FeatureWriter(tmp_path / "b.geojson") as w:
            w.add({"type": "Feature"})
            raise ValueError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.geojson"]


def test_block_wise_geojson_equals_the_in_memory_one(tmp_path):
    from test_blocks import cells_on_seams
    img, truth = cells_on_seams()
    write_image(tmp_path / "cells.png", img)
    mem = count(threshold_model(), [tmp_path / "cells.png"], tmp_path / "mem", verbose=False, geojson=True)
    blocks = BlockConfig(mode="always", block_size=128, label_block=128, chunk=64, halo=32)
    blk = count(threshold_model(), [tmp_path / "cells.png"], tmp_path / "blk", verbose=False, blocks=blocks,
                geojson=True)
    assert mem[0]["count"] == blk[0]["count"] == truth.max()

    def features(folder):
        doc = json.loads((folder / "cells_objects.geojson").read_text())
        with open(folder / "cells_objects.csv") as fh:
            table = {int(r["id"]): float(r["area"]) for r in csv.DictReader(fh)}
        for f in doc["features"]:   # each feature is its table row
            assert f["properties"]["measurements"]["area"] == table[int(f["properties"]["name"])]
        return sorted((sorted(map(tuple, f["geometry"]["coordinates"][0])), f["properties"]["measurements"]["area"])
                      for f in doc["features"])

    assert features(tmp_path / "mem") == features(tmp_path / "blk")
    assert len(set(json.loads((tmp_path / "blk" / "cells_objects.geojson").read_text())["features"][i]["properties"]
                   ["name"] for i in range(truth.max()))) == truth.max()     # global ids, unique across blocks


def test_z_slices_carry_their_plane_and_linked_ids(tmp_path):
    def blobs(centres, size=96, r=7):
        a = np.zeros((size, size), np.uint16)
        for c in centres:
            a[disk(c, r, shape=a.shape)] = 1000
        return a
    stack = np.stack([blobs([(30, 30)]), blobs([(31, 30)]), blobs([(30, 30), (70, 70)])])
    tifffile.imwrite(tmp_path / "z.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    count(threshold_model(), [tmp_path / "z.tif"], tmp_path / "out", verbose=False, choice=AxisChoice(z="slices"),
          geojson=True)
    feats = json.loads((tmp_path / "out" / "z_objects.geojson").read_text())["features"]
    planes = sorted((f["geometry"].get("plane", {"z": 0})["z"], f["properties"]["name"]) for f in feats)
    assert [z for z, _ in planes] == [0, 1, 2, 2]
    names = dict(planes[:2])
    assert names[0] == names[1]                                         # one nucleus through z: one id
