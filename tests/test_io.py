import numpy as np
import pytest
import tifffile

from unetkit.io import read_array, write_image
from unetkit.data.prepare import is_color, load_image, normalize, to_channels
from unetkit.errors import UnetkitError

rng = np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".npy"])
def test_lossless_formats_round_trip_gray_and_rgb(tmp_path, suffix):
    for arr in (rng.integers(0, 255, (20, 30), dtype=np.uint8), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)):
        p = write_image(tmp_path / f"x{arr.ndim}{suffix}", arr)
        np.testing.assert_array_equal(read_array(p), arr)


def test_jpeg_reads_close(tmp_path):
    arr = np.full((16, 16, 3), (200, 100, 50), np.uint8)
    p = write_image(tmp_path / "x.jpg", arr)
    assert np.abs(read_array(p).astype(int) - arr).max() < 8


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit(tmp_path, suffix):
    arr = rng.integers(0, 60000, (16, 16), dtype=np.uint16)
    p = write_image(tmp_path / f"x{suffix}", arr)
    back = read_array(p)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, arr)
    x = load_image(p, 1)
    assert x.shape == (16, 16, 1) and x.dtype == np.float32
    assert -0.1 < np.median(x) < 1.1


def test_rgba_drops_alpha_and_channel_first_tiff(tmp_path):
    rgba = rng.integers(0, 255, (8, 9, 4), dtype=np.uint8)
    p = write_image(tmp_path / "a.png", rgba)
    assert to_channels(read_array(p), 3).shape == (8, 9, 3)
    tifffile.imwrite(tmp_path / "cf.tif", rng.integers(0, 255, (3, 40, 50), dtype=np.uint8), photometric="rgb", planarconfig="separate")
    # planar 3 x Y x X is what tifffile writes for any 3-plane array (z-stacks too): never guessed as colour
    with pytest.raises(UnetkitError, match="3 planes of unknown meaning.*--axes.*SYX for the colours"):
        read_array(tmp_path / "cf.tif")
    from unetkit.io import open_image
    img = open_image(tmp_path / "cf.tif", axes="SYX")
    assert img.rgb and img.axes == "CYX" and img.shape["C"] == 3


def test_channel_conversion_and_colour_detection():
    gray3 = np.repeat(rng.integers(0, 255, (5, 5, 1), dtype=np.uint8), 3, axis=2)
    assert not is_color(gray3)
    col = gray3.copy()
    col[0, 0, 1] += 1
    assert is_color(col)
    assert to_channels(gray3[..., 0], 3).shape == (5, 5, 3)
    np.testing.assert_allclose(to_channels(gray3, 1)[..., 0], gray3[..., 0], atol=0.01)


def test_normalisation_modes():
    x = np.linspace(0, 1000, 9999).reshape(101, 99).astype(np.uint16)
    p = normalize(x, "percentile")
    assert abs(np.percentile(p, 1)) < 1e-3 and abs(np.percentile(p, 99.8) - 1) < 1e-3
    np.testing.assert_allclose(normalize(np.array([0, 255], np.uint8), "scale"), [0, 1])
    assert np.all(normalize(np.zeros((4, 4), np.uint8)) == 0)  # a blank image stays finite
    with pytest.raises(UnetkitError, match="unknown normalisation"):
        normalize(x, "zscore")


def test_truncated_and_unreadable_files_name_the_file(tmp_path):
    good = write_image(tmp_path / "good.png", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    bad = tmp_path / "trunc.png"
    bad.write_bytes(good.read_bytes()[:40])
    with pytest.raises(UnetkitError, match=r"trunc\.png: cannot read image"):
        read_array(bad)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    with pytest.raises(UnetkitError, match=r"junk\.tif: cannot read image"):
        read_array(junk)
    with pytest.raises(UnetkitError, match="file not found"):
        read_array(tmp_path / "missing.png")


def test_writes_are_atomic(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary left behind


def test_units_as_files_write_them_and_none_for_a_unit_not_known():
    from unetkit.io.units import micrometres, seconds
    assert [micrometres(2, u) for u in ("µm", "μm", "micron", "nm", "mm")] == [2, 2, 2, 2e-3, 2e3]
    assert [seconds(3, u) for u in ("s", "ms", "min", "h")] == [3, 3e-3, 180, 10800]
    assert micrometres(1, "pixel") is None and seconds(1, "frame") is None   # not a length, not a time
    assert micrometres(0, "µm") is None and seconds("soon", "s") is None
