"""Vendor formats through bioio (io._vendor): the axes, colours, pixel size and channel names bioio reports become a
LazyImage as the TIFF reader makes one. bioio's OME-TIFF plugin stands in for CZI, ND2 and LIF (whose files cannot be
written here): the same BioImage interface, the same dimension order (TCZYX, TCZYXS for colour)."""
import warnings

import numpy as np
import pytest
import tifffile

import unetkit.io as uio
from unetkit.errors import UnetkitError


@pytest.fixture
def through_bioio(monkeypatch):
    """open_image sends every file to the bioio reader, as it sends .czi, .nd2 and .lif."""
    monkeypatch.setattr(uio, "reader_for", lambda path: "bioio")


def test_an_rgb_scan_is_one_colour_picture_not_three_channels(tmp_path, through_bioio):
    rgb = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "slide.ome.tif", rgb, ome=True, photometric="rgb",
                     metadata={"axes": "YXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
    img = uio.open_image(tmp_path / "slide.ome.tif")
    assert img.reader == "bioio" and img.rgb and img.axes == "CYX" and img.pixel_size == (0.25, 0.25)
    assert img.data.shape == (1, 3, 1, 64, 80)
    assert np.array_equal(uio.read_array(tmp_path / "slide.ome.tif"), rgb)   # one 2-D picture, as a PNG would be


def test_channels_of_colour_pictures_are_refused_not_guessed(tmp_path, through_bioio):
    tifffile.imwrite(tmp_path / "two.ome.tif", np.zeros((2, 16, 20, 3), np.uint8), ome=True, photometric="rgb",
                     metadata={"axes": "CYXS"})
    with pytest.raises(UnetkitError, match=r"two.ome.tif: 2 channels of 3 colour samples each; export one channel "
                                           r"to OME-TIFF"):
        uio.open_image(tmp_path / "two.ome.tif")


def test_a_time_lapse_keeps_its_channels_names_and_frames(tmp_path, through_bioio):
    stack = np.random.default_rng(1).integers(0, 4000, (3, 2, 32, 40), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "movie.ome.tif", stack, ome=True,
                     metadata={"axes": "TCYX", "Channel": {"Name": ["DAPI", "GFP"]}})
    img = uio.open_image(tmp_path / "movie.ome.tif")
    assert not img.rgb and img.axes == "TCYX" and img.channel_names == ["DAPI", "GFP"] and img.pixel_size is None
    assert img.frame_interval is None                          # the file does not say
    tifffile.imwrite(tmp_path / "timed.ome.tif", stack, ome=True,
                     metadata={"axes": "TCYX", "TimeIncrement": 500.0, "TimeIncrementUnit": "ms"})
    assert uio.open_image(tmp_path / "timed.ome.tif").frame_interval == 0.5   # seconds, from bioio's OME metadata
    assert np.array_equal(np.asarray(img.data[:, :, 0]), stack)
    with pytest.raises(UnetkitError, match=r"movie.ome.tif: the file names its axes \(TCZYX, read by bioio\); "
                                           r"leave out --axes"):
        uio.open_image(tmp_path / "movie.ome.tif", axes="TCYX")


def test_a_zeiss_czi_time_lapse_is_read_by_its_plugin_and_counted_as_one(tmp_path, capsys):
    """A real CZI (written by Zeiss's libCZI, read by bioio-czi, both installed by the vendor extra): frames, channel
    names and pixel size as the file holds them, no warnings from the plugin's metadata, and `count` tracks it."""
    from pylibCZIrw import czi as pyczi
    from skimage.draw import disk

    from unetkit.cli import main
    movie = np.zeros((3, 2, 96, 96), np.uint16)
    for t in range(3):
        for centre in ((30, 30 + 3 * t), (65, 60)):
            movie[(t, 1, *disk(centre, 8, shape=(96, 96)))] = 3000
    with pyczi.create_czi(str(tmp_path / "cells.czi"), exist_ok=True) as doc:
        for t in range(3):
            for c in range(2):
                doc.write(data=movie[t, c], plane={"T": t, "C": c})
        doc.write_metadata(document_name="cells", channel_names={0: "Brightfield", 1: "DAPI"}, scale_x=0.5e-6,
                           scale_y=0.5e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = uio.open_image(tmp_path / "cells.czi")
    assert not [w for w in caught if "bioio" in w.filename or "xsdata" in w.filename]
    assert img.reader == "bioio" and img.axes == "TCYX" and img.channel_names == ["Brightfield", "DAPI"]
    assert img.pixel_size == (0.5, 0.5) and img.frame_interval is None   # libCZI wrote no time stamps
    assert np.array_equal(np.asarray(img.data[:, :, 0]), movie)
    assert main(["count", str(tmp_path / "cells.czi"), "--model", "nuclei", "--channel", "DAPI", "--t", "track",
                 "--out", str(tmp_path / "out"), "--quiet", "--no-tta"]) == 0
    with open(tmp_path / "out" / "counts.csv") as fh:
        assert [row.split(",")[2] for row in fh.read().split()[1:]] == ["2", "2", "2"]
    assert (tmp_path / "out" / "cells_tracks.csv").read_text().count("cells.czi") == 2   # two tracks


def test_a_vendor_file_without_the_extra_says_what_to_install(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_bioio(name, *args, **kwargs):
        if name == "bioio":
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_bioio)
    (tmp_path / "scan.czi").write_bytes(b"ZISRAWFILE")
    with pytest.raises(UnetkitError, match=r"scan.czi: .czi files need the vendor readers: pip install "
                                           r"'unetkit\[vendor\]'"):
        uio.open_image(tmp_path / "scan.czi")
