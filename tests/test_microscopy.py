"""Microscope files through predict and count: OME-TIFF with channels and pixel size,
OME-Zarr, z-stacks and time series (axes, ids, units), and every bad input refused
with a message that names the file and the option to use."""
import csv
import json

import numpy as np
import pytest
import tifffile
from skimage.draw import disk

from unetkit.cli import main
from unetkit.config import BlockConfig, PredictConfig
from unetkit.errors import UnetkitError
from unetkit.counting import count
from unetkit.io import open_image, write_image
from unetkit.planes import AxisChoice
from unetkit.prediction import predict
from unetkit.predictor import Predictor


class Threshold:
    def predict_on_batch(self, x):
        return (x[..., :1] > 0.5).astype(np.float32)


def threshold_model():
    meta = {"depth": 2, "channels": 1, "norm": "percentile", "invert": "never"}
    return Predictor(Threshold(), meta, PredictConfig(tile=64, overlap=8))


def blobs(centres, size=96, r=7, value=1000):
    img = np.zeros((size, size), np.uint16)
    for c in centres:
        img[disk(c, r, shape=img.shape)] = value
    return img


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_three_channel_ome_tiff_with_pixel_size(tmp_path):
    nuclei = blobs([(20, 20), (60, 70)])
    other = blobs([(30, 60)])
    stack = np.stack([other, nuclei, np.zeros_like(nuclei)])
    tifffile.imwrite(tmp_path / "cells.ome.tif", stack, ome=True,
                     metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                               "Channel": {"Name": ["Actin", "DAPI", "Empty"]}})
    img = open_image(tmp_path / "cells.ome.tif")
    assert img.axes == "CYX" and img.channel_names == ["Actin", "DAPI", "Empty"] and img.pixel_size == (0.5, 0.5)
    # three microscope channels for a 1-channel model: refused, naming the option and the channels
    with pytest.raises(Exception, match=r"3 channels \(0=Actin, 1=DAPI, 2=Empty\).*--channel"):
        count(threshold_model(), [tmp_path / "cells.ome.tif"], tmp_path / "x", verbose=False, on_error="stop")
    got = count(threshold_model(), [tmp_path / "cells.ome.tif"], tmp_path / "out", verbose=False,
                choice=AxisChoice(channel=["dapi"]))
    assert got == [{"file": "cells.ome.tif", "t": 0, "count": 2}]
    objs = rows(tmp_path / "out" / "objects.csv")
    area_px = (blobs([(20, 20)]) > 0).sum()
    assert float(objs[0]["area"]) == pytest.approx(area_px * 0.25)   # um^2 from the file's metadata
    assert float(objs[0]["pixel_size_um"]) == 0.5
    assert (tmp_path / "out" / "cells_labels.tif").is_file()       # a small 2D plane keeps today's files
    predict(threshold_model(), [tmp_path / "cells.ome.tif"], tmp_path / "pred", verbose=False,
            choice=AxisChoice(channel=["1"]))                        # by index this time
    from unetkit.io import read_array
    assert read_array(tmp_path / "pred" / "cells_mask.png").shape == nuclei.shape


def test_ome_zarr_in_and_out(tmp_path):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscales_metadata
    img = blobs([(20, 20), (50, 50), (80, 30)])
    g = zarr.open_group(str(tmp_path / "plate.ome.zarr"), mode="w", zarr_format=2)
    g.create_array("0", data=img[None], chunks=(1, 64, 64))
    write_multiscales_metadata(g, [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 0.25, 0.25]}]}], fmt=FormatV04(),
        axes=[{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
              {"name": "x", "type": "space", "unit": "micrometer"}])
    lazy = open_image(tmp_path / "plate.ome.zarr")
    assert lazy.axes == "CYX" and lazy.pixel_size == (0.25, 0.25) and lazy.reader == "zarr"
    got = count(threshold_model(), [tmp_path / "plate.ome.zarr"], tmp_path / "out", verbose=False)
    assert got[0]["count"] == 3 and got[0]["file"] == "plate.ome.zarr"
    assert (tmp_path / "out" / "plate_labels.tif").is_file()
    from unetkit.config import BlockConfig
    predict(threshold_model(), [tmp_path / "plate.ome.zarr"], tmp_path / "pred", verbose=False,
            blocks=BlockConfig(mode="always", block_size=64, chunk=64))
    out = open_image(tmp_path / "pred" / "plate_prob.ome.zarr")       # OME-Zarr in, OME-Zarr out
    assert out.axes == "YX" and out.pixel_size == (0.25, 0.25) and out.shape["Y"] == img.shape[0]
    assert not is_label_image(tmp_path / "pred" / "plate_prob.ome.zarr")     # probabilities stay an image


def is_label_image(path) -> bool:
    """What ome-zarr-py (napari's OME-Zarr reader) makes of a folder: a label image, or an image."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader
    return next(iter(Reader(parse_url(str(path)))())).load(Label) is not None


def test_z_stack_needs_an_option_then_links_objects_across_slices(tmp_path, capsys):
    # slice 0 and 1 hold the same nucleus (moved by 1 px), slice 2 a new one
    stack = np.stack([blobs([(30, 30)]), blobs([(31, 30)]), blobs([(30, 30), (70, 70)])])
    tifffile.imwrite(tmp_path / "z.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(Exception, match=r"z-stack of 3 slices; pass --z slices .* or --z max"):
        predict(threshold_model(), [tmp_path / "z.tif"], tmp_path / "no", verbose=False, on_error="stop")
    assert not (tmp_path / "no" / "z_mask.png").exists()
    got = count(threshold_model(), [tmp_path / "z.tif"], tmp_path / "out", verbose=False,
                choice=AxisChoice(z="slices"))
    assert got == [{"file": "z.tif", "t": 0, "count": 2}]            # one nucleus through z, one new
    labels = open_image(tmp_path / "out" / "z_labels.ome.zarr")
    assert labels.axes == "ZYX" and is_label_image(tmp_path / "out" / "z_labels.ome.zarr")  # napari: a labels layer
    lab = np.asarray(labels.data[0, 0])
    assert lab[0, 30, 30] == lab[1, 31, 30] == lab[2, 30, 30] > 0 and lab[2, 70, 70] not in (0, lab[0, 30, 30])
    objs = rows(tmp_path / "out" / "z_objects.csv")
    assert sorted(int(r["z"]) for r in objs) == [0, 1, 2, 2]
    # maximum projection: one plane, no z axis in the outputs
    predict(threshold_model(), [tmp_path / "z.tif"], tmp_path / "max", verbose=False, choice=AxisChoice(z="max"))
    assert (tmp_path / "max" / "z_mask.png").is_file()
    # a plain TIFF stack names no axes: refused until --axes says what the planes are
    tifffile.imwrite(tmp_path / "plain.tif", stack)
    code = main(["predict", str(tmp_path / "plain.tif"), "--model", "nuclei", "--out", str(tmp_path / "p"),
                 "--quiet", "--on-error", "stop"])
    assert code == 2 and "pass --axes" in capsys.readouterr().err


def test_time_series_frame_by_frame(tmp_path):
    frames = np.stack([blobs([(20, 20)]), blobs([(20, 20), (60, 60)]), blobs([(20, 20), (60, 60), (80, 20)])])
    tifffile.imwrite(tmp_path / "movie.tif", frames, imagej=True, metadata={"axes": "TYX"})
    got = count(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "out", verbose=False)
    assert [(r["t"], r["count"]) for r in got] == [(0, 1), (1, 2), (2, 3)]
    labels = open_image(tmp_path / "out" / "movie_labels.ome.zarr")
    assert labels.axes == "TYX" and labels.shape["T"] == 3
    counts = rows(tmp_path / "out" / "counts.csv")
    assert [(c["t"], c["count"]) for c in counts] == [("0", "1"), ("1", "2"), ("2", "3")]
    ids = [int(r["id"]) for r in rows(tmp_path / "out" / "movie_objects.csv")]
    assert len(ids) == len(set(ids)) == 6                                 # ids unique over the whole file
    predict(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "pred", verbose=False)
    assert open_image(tmp_path / "pred" / "movie_mask.ome.zarr").axes == "TYX"
    assert is_label_image(tmp_path / "pred" / "movie_mask.ome.zarr")        # classes, not intensities
    # in memory is one plane: --blocks never counted frame 0 alone and said nothing of the others
    for run in (count, predict):
        with pytest.raises(UnetkitError, match=r"movie.tif: 3 time points x 1 slice; --blocks never predicts one "
                                               r"plane in memory: leave --blocks auto"):
            run(threshold_model(), [tmp_path / "movie.tif"], tmp_path / f"never_{run.__name__}", verbose=False,
                blocks=BlockConfig(mode="never"), on_error="stop")
        assert not list((tmp_path / f"never_{run.__name__}").glob("movie*"))


def test_a_time_series_tracked_keeps_an_id_along_each_track(tmp_path, capsys):
    """--t track: a nucleus drifting 5 px a frame (a third of its diameter: IoU about 0.4 with the frame before)
    keeps one id through the movie; one appearing in frame 2 and one jumping farther than its size between frames
    start new ids; the counts per frame are the frames' own."""
    drifting = [(30 + 5 * t, 30) for t in range(4)]
    jumper = [(70, 20), (70, 20), (70, 75), (70, 75)]
    frames = np.stack([blobs([drifting[t], jumper[t]] + ([(20, 75)] if t >= 2 else [])) for t in range(4)])
    tifffile.imwrite(tmp_path / "movie.tif", frames, imagej=True, metadata={"axes": "TYX"})
    got = count(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "out", verbose=False,
                choice=AxisChoice(t="track"))
    assert [r["count"] for r in got] == [2, 2, 3, 3]
    table = rows(tmp_path / "out" / "movie_objects.csv")
    tracks = {}
    for r in table:
        tracks.setdefault(int(r["id"]), []).append(int(r["t"]))
    assert sorted(tracks.values()) == [[0, 1], [0, 1, 2, 3], [2, 3], [2, 3]]   # drifting; jumper before/after; new
    capsys.readouterr()
    count(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "said", choice=AxisChoice(t="track"))
    printed = capsys.readouterr()
    assert "movie.tif: 4 tracks over 4 frames" in printed.out and "[3/3 links (movie.tif: frames)" in printed.err
    labels = np.asarray(open_image(tmp_path / "out" / "movie_labels.ome.zarr").data[:, 0, 0])
    along = {int(labels[t, y, x]) for t, (y, x) in enumerate(drifting)}
    assert len(along) == 1 and along != {0}                             # the label image carries the same ids
    table = {int(r["id"]): r for r in rows(tmp_path / "out" / "movie_tracks.csv")}   # a row per track
    assert sorted(int(r["frames"]) for r in table.values()) == [2, 2, 2, 4]
    walked = table[along.pop()]
    assert (walked["first_t"], walked["last_t"]) == ("0", "3")
    assert float(walked["start_y"]) == pytest.approx(30, abs=0.5)
    for key in ("displacement", "path_length"):                          # 5 px a frame, three steps, straight down
        assert float(walked[key]) == pytest.approx(15, abs=0.5)
    assert float(walked["mean_speed_per_frame"]) == pytest.approx(5, abs=0.2)
    assert {r["parent"] for r in table.values()} == {"0"}               # tracks alone: no lineage
    # frames on their own (the default): every object of every frame its own id, as before
    count(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "frames", verbose=False)
    assert len({r["id"] for r in rows(tmp_path / "frames" / "movie_objects.csv")}) == 10
    assert not (tmp_path / "frames" / "movie_tracks.csv").exists()     # tracks only where frames were linked
    # tracking links one plane a frame: a z-stack over time is refused with slices, tracked on its projection
    tzyx = np.stack([np.stack([f, f]) for f in frames])
    tifffile.imwrite(tmp_path / "tz.tif", tzyx, imagej=True, metadata={"axes": "TZYX"})
    assert main(["count", str(tmp_path / "tz.tif"), "--model", "nuclei", "--out", str(tmp_path / "tz"), "--t",
                 "track", "--z", "slices", "--quiet"]) == 2
    assert "has 2 slices a frame; pass --z max to track on the projection" in capsys.readouterr().err
    with pytest.raises(Exception, match="--t later: choose frames, track or lineage"):   # the API's value is checked too
        count(threshold_model(), [tmp_path / "movie.tif"], tmp_path / "later", verbose=False,
              choice=AxisChoice(t="later"))
    got = count(threshold_model(), [tmp_path / "tz.tif"], tmp_path / "tzmax", verbose=False,
                choice=AxisChoice(t="track", z="max"))
    assert [r["count"] for r in got] == [2, 2, 3, 3]
    assert len({r["id"] for r in rows(tmp_path / "tzmax" / "tz_objects.csv")}) == 4


def test_a_track_goes_on_across_one_frame_the_nucleus_was_missed_in(tmp_path):
    """--t track bridges one missed frame (a dim frame, a flicker of the network): one id, one row in the tracks
    table, frames 0, 1 and 3."""
    frames = np.stack([blobs([(30 + 2 * t, 30)]) if t != 2 else blobs([]) for t in range(4)])
    tifffile.imwrite(tmp_path / "flicker.tif", frames, imagej=True, metadata={"axes": "TYX"})
    got = count(threshold_model(), [tmp_path / "flicker.tif"], tmp_path / "out", verbose=False,
                choice=AxisChoice(t="track"))
    assert [r["count"] for r in got] == [1, 1, 0, 1]
    assert sorted({int(r["id"]) for r in rows(tmp_path / "out" / "flicker_objects.csv")}) == [1]
    (track,) = rows(tmp_path / "out" / "flicker_tracks.csv")
    assert (track["first_t"], track["last_t"], track["frames"]) == ("0", "3", "3")
    # in the Cell Tracking Challenge's format a track has no gap: its return is a new track, the first's child
    count(threshold_model(), [tmp_path / "flicker.tif"], tmp_path / "ctc", verbose=False, choice=AxisChoice(t="track"),
          ctc=True)
    res = tmp_path / "ctc" / "flicker_RES"
    assert (res / "res_track.txt").read_text() == "1 0 1 0\n2 3 3 1\n"
    masks = np.stack([tifffile.imread(res / f"mask{t:03d}.tif") for t in range(4)])
    assert masks.dtype == np.uint16 and [int(masks[t, 30 + 2 * t, 30]) for t in (0, 1, 3)] == [1, 1, 2]
    assert not masks[2].any()
    with pytest.raises(UnetkitError, match="--ctc writes tracks in the Cell Tracking Challenge's format: pass --t"):
        count(threshold_model(), [tmp_path / "flicker.tif"], tmp_path / "frames", verbose=False, ctc=True)
    tifffile.imwrite(tmp_path / "still.tif", frames[0])
    with pytest.raises(UnetkitError, match=r"still.tif: one frame, not a time lapse; --ctc writes tracks"):
        count(threshold_model(), [tmp_path / "still.tif"], tmp_path / "one", verbose=False, on_error="stop",
              choice=AxisChoice(t="track"), ctc=True)


def test_the_time_between_frames_comes_from_the_file_and_gives_speeds_per_minute(tmp_path, capsys):
    """The seconds between frames are read as each format records them (OME TimeIncrement with its unit, else the
    planes' DeltaT; ImageJ's finterval; an OME-Zarr's time scale with its unit) and give each track its duration
    and speed per minute; --frame-interval overrides; a unit unetkit does not know is not read as seconds."""
    frames = np.stack([blobs([(30 + 4 * t, 30)]) for t in range(4)])   # 4 px a frame, three steps
    tifffile.imwrite(tmp_path / "inc.ome.tif", frames, ome=True, metadata={
        "axes": "TYX", "TimeIncrement": 2.0, "TimeIncrementUnit": "min", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
    tifffile.imwrite(tmp_path / "delta.ome.tif", frames, ome=True, metadata={
        "axes": "TYX", "Plane": {"DeltaT": [0.0, 1500.0, 3000.0, 4500.0], "DeltaTUnit": ["ms"] * 4}})
    tifffile.imwrite(tmp_path / "ij.tif", frames, imagej=True, metadata={"axes": "TYX", "finterval": 30.0})
    tifffile.imwrite(tmp_path / "odd.ome.tif", frames, ome=True, metadata={
        "axes": "TYX", "TimeIncrement": 2.0, "TimeIncrementUnit": "fortnight"})
    assert [open_image(tmp_path / f).frame_interval for f in ("inc.ome.tif", "delta.ome.tif", "ij.tif", "odd.ome.tif")
            ] == [120.0, 1.5, 30.0, None]
    count(threshold_model(), [tmp_path / "inc.ome.tif"], tmp_path / "out", verbose=False, choice=AxisChoice(t="track"))
    (track,) = rows(tmp_path / "out" / "inc_tracks.csv")
    assert float(track["frame_interval_s"]) == 120.0 and float(track["duration_min"]) == pytest.approx(6.0)
    assert float(track["path_length"]) == pytest.approx(6.0, abs=0.3)            # 12 px of 0.5 um
    assert float(track["mean_speed_per_min"]) == pytest.approx(1.0, abs=0.05)   # um a minute
    labels = open_image(tmp_path / "out" / "inc_labels.ome.zarr")                 # the labels keep the time scale
    assert labels.frame_interval == 120.0 and labels.pixel_size == (0.5, 0.5)
    count(threshold_model(), [tmp_path / "inc.ome.tif"], tmp_path / "over", verbose=False, frame_interval=15.0,
          choice=AxisChoice(t="track"))
    (track,) = rows(tmp_path / "over" / "inc_tracks.csv")
    assert float(track["frame_interval_s"]) == 15.0
    assert float(track["mean_speed_per_min"]) == pytest.approx(8.0, abs=0.4)
    count(threshold_model(), [tmp_path / "odd.ome.tif"], tmp_path / "odd", verbose=False, choice=AxisChoice(t="track"))
    (track,) = rows(tmp_path / "odd" / "odd_tracks.csv")
    assert track["duration_min"] == track["mean_speed_per_min"] == track["frame_interval_s"] == ""
    assert float(track["mean_speed_per_frame"]) == pytest.approx(4.0, abs=0.2)   # px a frame, as before
    assert main(["count", str(tmp_path / "ij.tif"), "--model", "nuclei", "--out", str(tmp_path / "bad"),
                 "--frame-interval", "0", "--quiet"]) == 2
    assert "--frame-interval 0.0: must be a positive time in seconds between frames" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_folder_of_frames_is_one_time_lapse_with_sequence(tmp_path, capsys):
    """--sequence t: a folder of one file a frame (the Cell Tracking Challenge's t000.tif..., in natural name order:
    t2 before t10) is one movie, tracked as the same frames stacked in one file are, its outputs named after the
    folder; --sequence z stacks slices. Files that do not match the first, that hold the axis already, or a file
    given where a folder is wanted are refused with their names."""
    frames = np.stack([blobs([(20 + 3 * t, 30), (70, 20 + 4 * t)]) for t in range(11)])
    (tmp_path / "01").mkdir()
    for t, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / "01" / f"t{t}.tif", frame)              # unpadded: t10 sorts last
    tifffile.imwrite(tmp_path / "stack.tif", frames, imagej=True, metadata={"axes": "TYX"})
    img = open_image(tmp_path / "01", "T:")
    assert img.axes == "TYX" and img.data.shape == (11, 1, 1, 96, 96) and img.reader == "sequence of tiff"
    assert np.array_equal(np.asarray(img.data[:, 0, 0]), frames)
    assert main(["count", str(tmp_path / "01"), "--model", "nuclei", "--out", str(tmp_path / "out"), "--sequence",
                 "t", "--t", "track", "--quiet"]) == 0
    got = count(threshold_model(), [tmp_path / "01"], tmp_path / "seq", verbose=False, axes="T:",
                choice=AxisChoice(t="track"))
    ref = count(threshold_model(), [tmp_path / "stack.tif"], tmp_path / "ref", verbose=False,
                choice=AxisChoice(t="track"))
    assert [r["count"] for r in got] == [r["count"] for r in ref] == [2] * 11 and got[0]["file"] == "01"
    ref_tracks = [{**r, "file": "01"} for r in rows(tmp_path / "ref" / "stack_tracks.csv")]
    assert rows(tmp_path / "seq" / "01_tracks.csv") == ref_tracks
    with pytest.raises(UnetkitError, match="01: holds input images; outputs written there would be read"):
        count(threshold_model(), [tmp_path / "01"], tmp_path / "01", verbose=False, axes="T:")   # into the movie
    # slices
    (tmp_path / "z").mkdir()
    for z in range(3):
        tifffile.imwrite(tmp_path / "z" / f"slice_{z}.tif", frames[0])
    assert open_image(tmp_path / "z", "Z:").axes == "ZYX"
    # refused: a file that does not match, files that are movies already, a file where a folder is wanted
    tifffile.imwrite(tmp_path / "01" / "t11.tif", frames[0][:64])
    with pytest.raises(UnetkitError, match=r"t11.tif: 64 Y x 96 X \(uint16\) in a sequence of 96 Y x 96 X"):
        np.asarray(open_image(tmp_path / "01", "T:").data[11, 0, 0])
    (tmp_path / "movies").mkdir()
    tifffile.imwrite(tmp_path / "movies" / "a.tif", frames[:2], imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(UnetkitError, match=r"a.tif: already holds 2 frames \(axes TYX\)"):
        open_image(tmp_path / "movies", "T:")
    with pytest.raises(UnetkitError, match=r"stack.tif: --sequence takes folders of images"):
        open_image(tmp_path / "stack.tif", "T:")
    (tmp_path / "set" / "02").mkdir(parents=True)                           # a data set's folder of movies
    with pytest.raises(UnetkitError, match=r"set: holds folders \(02\.\.\.\), not images; pass the folders"):
        open_image(tmp_path / "set", "T:")


def test_a_lineage_ends_a_dividing_nucleus_track_and_names_it_the_parent_of_two(tmp_path, capsys):
    """--t lineage: a nucleus that divides in frame 2 into two of like size is a track of frames 0-1, each daughter
    a track of frames 2-3 whose parent it is (NAME_tracks.csv's parent column, the Cell Tracking Challenge's P);
    the label image stops the mother's id where she divided."""
    frames = np.stack([blobs([(48, 48)], r=10) if t < 2 else blobs([(48, 40 - t), (48, 56 + t)], r=7)
                       for t in range(4)])
    tifffile.imwrite(tmp_path / "mitosis.tif", frames, imagej=True, metadata={"axes": "TYX"})
    count(threshold_model(), [tmp_path / "mitosis.tif"], tmp_path / "out", choice=AxisChoice(t="lineage"))
    assert "mitosis.tif: 3 tracks over 4 frames, 1 division" in capsys.readouterr().out
    table = {int(r["id"]): r for r in rows(tmp_path / "out" / "mitosis_tracks.csv")}
    (mother,) = [i for i, r in table.items() if r["parent"] == "0"]
    assert (table[mother]["first_t"], table[mother]["last_t"]) == ("0", "1")
    daughters = sorted(i for i, r in table.items() if r["parent"] == str(mother))
    assert len(daughters) == 2 and all((table[d]["first_t"], table[d]["last_t"]) == ("2", "3") for d in daughters)
    labels = np.asarray(open_image(tmp_path / "out" / "mitosis_labels.ome.zarr").data[:, 0, 0])
    assert labels[1, 48, 48] == mother and mother not in labels[2:]
    assert [labels[3, 48, 37], labels[3, 48, 59]] == daughters
    count(threshold_model(), [tmp_path / "mitosis.tif"], tmp_path / "ctc", verbose=False,
          choice=AxisChoice(t="lineage"), ctc=True)                    # the Challenge's L B E P: daughters of 1
    assert (tmp_path / "ctc" / "mitosis_RES" / "res_track.txt").read_text() == "1 0 1 0\n2 2 3 1\n3 2 3 1\n"
    # as tracks alone, no parent is named
    count(threshold_model(), [tmp_path / "mitosis.tif"], tmp_path / "tracks", verbose=False,
          choice=AxisChoice(t="track"))
    assert {r["parent"] for r in rows(tmp_path / "tracks" / "mitosis_tracks.csv")} == {"0"}


def test_nan_pixels_are_refused_or_masked_on_request(tmp_path, capsys):
    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    img[10:20, 10:20] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", img)
    code = main(["predict", str(tmp_path / "nan.tif"), "--model", "nuclei", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "nan.tif: 100 NaN/inf pixels" in err and "--nan mask" in err
    assert not list((tmp_path / "o").glob("nan_*"))
    predict(threshold_model(), [tmp_path / "nan.tif"], tmp_path / "m", verbose=False, choice=AxisChoice(nan="mask"))
    prob = tifffile.imread(tmp_path / "m" / "nan_prob.tif")
    assert np.isfinite(prob).all() and (prob[10:20, 10:20] == 0).all()


def test_a_corrupt_file_is_skipped_and_an_interrupted_batch_resumes(tmp_path, capsys):
    folder = tmp_path / "in"
    for i in range(3):
        write_image(folder / f"{i}.png", (blobs([(30, 30 + 10 * i)]) // 4).astype(np.uint8))
    (folder / "1b.png").write_bytes(b"not a png at all")
    out = tmp_path / "out"
    with pytest.raises(Exception, match=r"(?s)1 of 4 files failed.*1b\.png: cannot read image"):
        count(threshold_model(), [folder], out, verbose=False)
    assert sorted(p.name for p in out.glob("*_count.png")) == ["0_count.png", "1_count.png", "2_count.png"]
    assert len(rows(out / "counts.csv")) == 3                          # the good ones were written
    # an interrupted batch: 2's outputs are gone; a plain rerun refuses, --skip-existing continues
    (folder / "1b.png").unlink()
    for p in out.glob("2_*"):
        p.unlink()
    before = (out / "0_labels.tif").stat().st_mtime_ns
    with pytest.raises(Exception, match="(?s)already exists.*--skip-existing"):
        count(threshold_model(), [folder], out, verbose=False)
    got = count(threshold_model(), [folder], out, verbose=False, skip_existing=True)
    assert [r["count"] for r in got] == [1, 1, 1]
    assert (out / "2_count.png").is_file() and (out / "0_labels.tif").stat().st_mtime_ns == before  # not redone
    assert len(rows(out / "objects.csv")) == 3
    # the CLI exits non-zero when any file failed
    (folder / "9.png").write_bytes(b"broken")
    code = main(["predict", str(folder), "--model", "nuclei", "--out", str(tmp_path / "cli"), "--quiet"])
    assert code == 2 and "1 of 4 files failed" in capsys.readouterr().err
    assert len(list((tmp_path / "cli").glob("*_mask.png"))) == 3


@pytest.mark.parametrize("blocks", ["never", "always"])
def test_a_tiff_cut_short_after_its_header_is_skipped_with_one_line(tmp_path, blocks):
    """Readers decode lazily: a TIFF whose header is sound and whose pixels are cut short opens, and fails only when
    its pixels are read (strips: a reshape error; compressed tiles: a codec error). Either is the file's fault, said
    in one line that names it, and nothing of it is written."""
    img = (blobs([(30, 30)]) // 4).astype(np.uint8)
    for name, kwargs in (("strips", {}), ("tiles", {"compression": "zlib", "tile": (32, 32)})):
        tifffile.imwrite(tmp_path / f"{name}.tif", np.tile(img, (2, 2)), **kwargs)
        data = (tmp_path / f"{name}.tif").read_bytes()
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{name}.tif").write_bytes(data[: len(data) // 2])
    write_image(tmp_path / "in" / "good.png", img)
    out = tmp_path / "out"
    with pytest.raises(UnetkitError, match=r"(?s)2 of 3 files failed.*strips\.tif: cannot read image.*damaged or cut "
                                           r"short.*tiles\.tif: cannot read image"):
        count(threshold_model(), [tmp_path / "in"], out, verbose=False, blocks=BlockConfig(mode=blocks))
    assert sorted(p.name.split("_")[0] for p in out.glob("*_count.png")) == ["good"]
    assert not list(out.glob("strips_*")) and not list(out.glob("tiles_*"))



def test_outputs_never_go_into_a_folder_of_inputs(tmp_path, capsys):
    """Overlays, label images and the size histogram written beside the images would be read as images by the next
    run on that folder (predict would predict them): refused, whether the folder or its files were named."""
    folder = tmp_path / "in"
    write_image(folder / "a.png", (blobs([(30, 30)]) // 4).astype(np.uint8))
    for command, inputs in (("count", [str(folder)]), ("predict", [str(folder / "a.png")])):
        code = main([command, *inputs, "--model", "nuclei", "--out", str(folder), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "holds input images" in err and "choose another --out" in err
        assert sorted(p.name for p in folder.iterdir()) == ["a.png"]          # nothing written
    count(threshold_model(), [folder], folder / "counts", verbose=False)    # a folder inside it is fine
    assert (folder / "counts" / "a_count.png").is_file()


def test_an_option_no_file_can_satisfy_stops_the_batch_at_once(tmp_path, capsys):
    """A bad --diameter is not the first file's fault: the batch stops there with one message, instead of failing
    every file in turn (an unreachable --scheduler waited 20 s a file)."""
    folder = tmp_path / "in"
    for i in range(3):
        write_image(folder / f"{i}.png", (blobs([(30, 30)]) // 4).astype(np.uint8))
    code = main(["count", str(folder), "--model", "nuclei", "--out", str(tmp_path / "o"), "--diameter", "big",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("--diameter big: pass a diameter in px") == 1 and "skipped" not in err


def test_a_batch_where_every_file_failed_leaves_no_tables_to_block_the_rerun(tmp_path, capsys):
    """A two-channel file without --channel fails; the corrected command into the same --out must not be refused
    as an earlier run's (empty counts.csv, objects.csv and sizes.png used to be written)."""
    img = np.stack([blobs([(30, 30)]), blobs([(60, 60)])]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "two.ome.tif", img, metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    args = ["count", str(tmp_path / "two.ome.tif"), "--model", "nuclei", "--out", str(tmp_path / "o"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err   # one file asked for: its own message, once, on one line
    assert err.startswith("unetkit count: error: ") and err.count("\n") == 1 and "pass --channel NAME or INDEX" in err
    assert not [p for p in (tmp_path / "o").iterdir()]
    assert main(["predict", str(tmp_path / "two.ome.tif"), "--model", "nuclei", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err   # progress on, and still one line: no "wrote 0 predictions" before it
    assert err.startswith("unetkit predict: error: ") and err.count("\n") == 1
    import shutil
    shutil.copy(tmp_path / "two.ome.tif", tmp_path / "again.ome.tif")
    assert main([*args[:2], str(tmp_path / "again.ome.tif"), *args[2:]]) == 2
    assert "2 of 2 files failed (none was written)" in capsys.readouterr().err
    assert main([*args, "--channel", "DAPI"]) == 0
    assert len(rows(tmp_path / "o" / "counts.csv")) == 1
