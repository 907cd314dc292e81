"""Counted objects as outlines: GeoJSON (QuPath detections) and ImageJ ROI sets (Fiji), traced at pixel centres,
measured from the table, the same block-wise as in memory (ids across seams, z planes), nothing half-written."""
import csv
import json

import numpy as np
import pytest
import tifffile
from roifile import roiread
from skimage.draw import disk

from unetkit.config import BlockConfig, PredictConfig
from unetkit.counting import count
from unetkit.errors import UnetkitError
from unetkit.io import write_image
from unetkit.io.object_files import write_objects, writers
from unetkit.io.outlines import object_geometries, outline
from unetkit.planes import AxisChoice
from unetkit.predictor import Predictor


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


def disks():
    labels = np.zeros((40, 40), np.int32)
    labels[disk((10, 10), 5)] = 1
    labels[disk((28, 25), 7)] = 2
    return labels, [{"id": 1, "area": 81.0, "file": "a.png"}, {"id": 2, "area": 149.0, "file": "a.png"}]


def test_geojson_features_carry_measurements_and_their_plane(tmp_path):
    import cv2
    labels, rows = disks()
    write_objects({"geojson": tmp_path / "a.geojson"}, labels, rows, z=3, t=1)
    doc = json.loads((tmp_path / "a.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    f2 = doc["features"][1]
    assert f2["properties"] == {"objectType": "detection", "name": "2", "measurements": {"id": 2.0, "area": 149.0}}
    assert f2["geometry"]["plane"] == {"c": -1, "z": 3, "t": 1}
    ring = np.array(f2["geometry"]["coordinates"][0], np.float32)
    assert cv2.pointPolygonTest(ring, (25.5, 28.5), False) > 0        # the disk's centre pixel is inside
    write_objects({"geojson": tmp_path / "b.geojson"}, labels, rows)
    flat = json.loads((tmp_path / "b.geojson").read_text())
    assert "plane" not in flat["features"][0]["geometry"]             # a 2-D image: QuPath's default plane


def test_imagej_rois_hold_the_same_outlines_in_subpixel_coordinates(tmp_path):
    labels, rows = disks()
    write_objects({"geojson": tmp_path / "a.geojson", "imagej": tmp_path / "a_rois.zip"}, labels, rows)  # one pass
    geo = json.loads((tmp_path / "a.geojson").read_text())["features"]
    rois = roiread(tmp_path / "a_rois.zip")
    assert [r.name for r in rois] == ["1", "2"]
    for roi, f in zip(rois, geo):
        assert np.allclose(roi.coordinates(), np.array(f["geometry"]["coordinates"][0][:-1]), atol=1e-4)
        assert roi.z_position == 0 and roi.t_position == 0             # one plane: shown on the whole image
    write_objects({"imagej": tmp_path / "z_rois.zip"}, labels, rows, z=2, t=0)
    stacked = roiread(tmp_path / "z_rois.zip")
    assert [r.name for r in stacked] == ["1 z2 t0", "2 z2 t0"] and stacked[0].z_position == 3   # 1-based


def test_writers_interrupted_leave_no_file(tmp_path):
    labels, rows = disks()
    with pytest.raises(ValueError):
        with writers({"geojson": tmp_path / "x.geojson", "imagej": tmp_path / "x_rois.zip"}) as ws:
            for w in ws:
                w.add(dict(object_geometries(labels))[1], rows[0])
            raise ValueError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_block_wise_outlines_equal_the_in_memory_ones(tmp_path):
    from test_blocks import cells_on_seams
    img, truth = cells_on_seams()
    write_image(tmp_path / "cells.png", img)
    both = ("geojson", "imagej")
    mem = count(threshold_model(), [tmp_path / "cells.png"], tmp_path / "mem", verbose=False, outlines=both)
    blocks = BlockConfig(mode="always", block_size=128, label_block=128, chunk=64, halo=32)
    blk = count(threshold_model(), [tmp_path / "cells.png"], tmp_path / "blk", verbose=False, blocks=blocks,
                outlines=both)
    assert mem[0]["count"] == blk[0]["count"] == truth.max()

    def features(folder):
        doc = json.loads((folder / "cells_objects.geojson").read_text())
        with open(folder / "cells_objects.csv") as fh:
            table = {int(r["id"]): (float(r["area"]), float(r["score"])) for r in csv.DictReader(fh)}
        for f in doc["features"]:   # each feature is its table row, the object's score a QuPath measurement too
            measured = f["properties"]["measurements"]
            assert (measured["area"], measured["score"]) == table[int(f["properties"]["name"])]
            assert 0.5 <= measured["score"] <= 1     # a thresholded disk model: certain foreground
        rois = {r.name: r.coordinates() for r in roiread(folder / "cells_rois.zip")}
        for f in doc["features"]:   # and the ROI of the same id has the same outline
            assert np.allclose(rois[f["properties"]["name"]], f["geometry"]["coordinates"][0][:-1], atol=1e-4)
        return sorted((sorted(map(tuple, f["geometry"]["coordinates"][0])), f["properties"]["measurements"]["area"])
                      for f in doc["features"])

    assert features(tmp_path / "mem") == features(tmp_path / "blk")
    names = [f["properties"]["name"] for f in json.loads((tmp_path / "blk" / "cells_objects.geojson").read_text())
             ["features"]]
    assert len(set(names)) == len(names) == truth.max()                 # global ids, unique across blocks


def test_z_slices_carry_their_plane_and_linked_ids(tmp_path):
    def blobs(centres, size=96, r=7):
        a = np.zeros((size, size), np.uint16)
        for c in centres:
            a[disk(c, r, shape=a.shape)] = 1000
        return a
    stack = np.stack([blobs([(30, 30)]), blobs([(31, 30)]), blobs([(30, 30), (70, 70)])])
    tifffile.imwrite(tmp_path / "z.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    count(threshold_model(), [tmp_path / "z.tif"], tmp_path / "out", verbose=False, choice=AxisChoice(z="slices"),
          outlines=("geojson", "imagej"))
    feats = json.loads((tmp_path / "out" / "z_objects.geojson").read_text())["features"]
    planes = sorted((f["geometry"].get("plane", {"z": 0})["z"], f["properties"]["name"]) for f in feats)
    assert [z for z, _ in planes] == [0, 1, 2, 2]
    names = dict(planes[:2])
    assert names[0] == names[1]                                         # one nucleus through z: one id
    rois = roiread(tmp_path / "out" / "z_rois.zip")
    assert sorted(r.z_position for r in rois) == [1, 2, 3, 3]          # every slice's ROI on its own slice
    assert f"{names[0]} z0 t0" in {r.name for r in rois}


def test_an_unknown_outline_format_is_refused_before_anything_is_written(tmp_path, capsys):
    from unetkit.cli import main
    write_image(tmp_path / "a.png", np.zeros((64, 64), np.uint8))
    with pytest.raises(UnetkitError, match="unknown outline format 'svg'"):
        count(threshold_model(), [tmp_path / "a.png"], tmp_path / "out", verbose=False, outlines=("svg",))
    assert main(["count", str(tmp_path / "a.png"), "--model", "nuclei", "--out", str(tmp_path / "out"),
                 "--outlines", "geojson", "svg", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown outline format 'svg': use geojson or imagej" in err[0]
    assert not (tmp_path / "out").exists()
