"""Noise the model never saw (noise.py): measured, smoothed just enough, stretched back, the same in both
prediction paths; and the polarity of a dim, noisy fluorescence frame read right (prepare.py)."""
import numpy as np
import pytest
from scipy import ndimage

from unetkit.config import BlockConfig, PredictConfig
from unetkit.data.prepare import _pixels, apply_norm, background_level, norm_params, to_channels
from unetkit.io import open_image, read_array, write_image
from unetkit.noise import STEP, Smoothing, choose, gain, noise_level, smoothing_for
from unetkit.prediction import predict
from unetkit.predictor import Predictor


def blobs(size=256, seed=0):
    """A clean image with sharp-edged disks of several brightnesses on a slow gradient, in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = 0.1 + 0.2 * xx / size
    for _ in range(25):
        cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(6, 20)]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rng.uniform(0.4, 1.0)
    return img.astype(np.float32)


def test_noise_level_reads_white_noise_and_not_edges():
    clean = blobs()
    assert noise_level(clean) < 0.005                 # disks' edges and the gradient are not noise
    rng = np.random.default_rng(1)
    for sigma in (0.01, 0.05):
        noisy = clean + rng.normal(0, sigma, clean.shape).astype(np.float32)
        assert noise_level(noisy) == pytest.approx(sigma, rel=0.12)
    assert noise_level(np.stack([clean, clean + 0.05 * rng.standard_normal(clean.shape)], -1)) == \
        pytest.approx(0.025, rel=0.15)                  # channels: the mean of theirs


@pytest.mark.parametrize("sigma", [0.7, 1.5])
def test_gain_is_what_the_gaussian_does_to_white_noise(sigma):
    import cv2
    noise = np.random.default_rng(2).standard_normal((512, 512)).astype(np.float32)
    smoothed = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    assert smoothed[16:-16, 16:-16].std() == pytest.approx(gain(sigma), rel=0.05)


def test_the_noise_window_is_central_and_bounded_at_every_scale():
    from unetkit.noise import central_window
    assert central_window((300, 500)) == (0, 300, 0, 500)                       # small: all of it
    assert central_window((10000, 6000)) == (3976, 6024, 1976, 4024)            # 2048 px a side
    y0, y1, x0, x1 = central_window((10000, 6000), 2.83)                        # enlarged: 2048 px after resizing
    assert (y1 - y0) * 2.83 <= 2048 and (x1 - x0) == (y1 - y0) and abs(y0 + y1 - 10000) <= 1


def test_smoothing_is_the_least_that_reaches_the_ceiling():
    assert smoothing_for(0.019, 0.02) == 0.0 and smoothing_for(0.05, None) == 0.0
    assert smoothing_for(0.024, 0.02) == 0.0            # a little above a 99th percentile is still the model's range
    for level in (0.03, 0.05, 0.09):
        s = smoothing_for(level, 0.02)
        assert level * gain(s) <= 0.02 < level * gain(s - STEP)
    assert smoothing_for(0.05, 0.02) < smoothing_for(0.09, 0.02)
    assert smoothing_for(100.0, 0.02) == 3.0            # the strongest there is


def test_choose_leaves_clean_images_alone_and_stretches_what_it_smooths():
    clean, rng = blobs(), np.random.default_rng(3)
    window = (clean + rng.normal(0, 0.06, clean.shape).astype(np.float32))[..., None]
    assert not choose(window, "off", 0.02) and not choose(window, "auto", None)
    assert not choose(clean[..., None], "auto", 0.02)   # as clean as the training images
    x = np.stack([clean[..., None]] * 2)
    assert Smoothing().apply(x) is x                    # nothing to do: the very same pixels
    s = choose(window, "auto", 0.02)
    assert s.measured and s.sigma == smoothing_for(noise_level(window), 0.02)
    out = s.apply(window[None])[0]
    assert np.percentile(out, [1, 99.8]) == pytest.approx([0, 1], abs=0.01)   # the percentile range, again
    assert noise_level(out * s.span) <= 0.02
    fixed = choose(window, "1.5", None)
    assert fixed.sigma == 1.5 and not fixed.measured


def dim_colony(photons=20, size=512, seed=4):
    """A crowded, dim fluorescence frame: textured nuclei of their own brightness covering most of it,
    a camera offset of 100 counts, shot noise (as synthetic_colonies.py makes, smaller)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    signal = np.zeros((size, size))
    step = 40
    for cy in range(step // 2, size, step):
        for cx in range(step // 2, size, step):
            if rng.random() < 0.15:
                continue
            inside = (yy - cy - rng.normal(0, 2)) ** 2 + (xx - cx - rng.normal(0, 2)) ** 2 <= 18 ** 2
            grain = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.5)
            signal[inside] = rng.uniform(0.1, 1.0) * photons * np.clip(1 + 0.3 * grain[inside] / grain.std(), 0.2, None)
    return rng.poisson(ndimage.gaussian_filter(signal, 1.2) + 100).astype(np.uint16)


def test_shot_noise_does_not_invert_a_dim_fluorescence_frame():
    frame = to_channels(dim_colony(), 1)
    unbinned = background_level(apply_norm(_pixels(frame), norm_params(frame, "percentile", "never")))
    assert unbinned > 0.5        # pixel by pixel the noise smears the histogram: read so, it would be inverted
    assert not norm_params(frame, "percentile", "auto").invert
    assert norm_params(to_channels(65535 - dim_colony(), 1), "percentile", "auto").invert   # bright background


class MeanModel:
    """A stand-in network with context: a 9x9 mean of the input, so smoothing and tiling both show."""

    def predict_on_batch(self, x):
        return ndimage.uniform_filter(x[..., :1], size=(1, 9, 9, 1), mode="constant")


def test_noisy_images_are_smoothed_alike_in_memory_and_block_wise(tmp_path):
    write_image(tmp_path / "a.tif", dim_colony(size=300))
    meta = {"depth": 2, "channels": 1, "norm": "percentile", "invert": "auto", "noise": 0.01}
    p = Predictor(MeanModel(), meta, PredictConfig(tile=64, overlap=8))
    x = p.prepare(read_array(tmp_path / "a.tif"))
    s = p.smoothing(x, 1.0)
    assert s.measured and s.sigma > 0
    predict(p, [tmp_path / "a.tif"], tmp_path / "mem", verbose=False)
    blocks = BlockConfig(mode="always", block_size=128, chunk=64, max_pixels=10)
    predict(p, [tmp_path / "a.tif"], tmp_path / "blk", verbose=False, blocks=blocks)
    mem = read_array(tmp_path / "mem" / "a_prob.tif")
    np.testing.assert_allclose(np.asarray(open_image(tmp_path / "blk" / "a_prob.ome.zarr").data[0, 0, 0]), mem,
                               atol=1e-5)
    off = Predictor(MeanModel(), meta, PredictConfig(tile=64, overlap=8, denoise="off"))
    predict(off, [tmp_path / "a.tif"], tmp_path / "off", verbose=False)
    assert np.abs(read_array(tmp_path / "off" / "a_prob.tif") - mem).max() > 0.01   # smoothing did something


def test_count_says_how_much_it_smoothed(tmp_path, capsys):
    from unetkit.counting import count
    from unetkit.instances import instance_settings
    write_image(tmp_path / "a.tif", dim_colony(size=300))
    meta = {"depth": 2, "channels": 1, "norm": "percentile", "invert": "auto", "noise": 0.01}
    p = Predictor(MeanModel(), meta, PredictConfig(tile=64, overlap=8))
    count(p, [tmp_path / "a.tif"], tmp_path / "c", instance_cfg=instance_settings({}, split="components"),
          verbose=True)
    assert "noisier than the model's training images" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_streamed_statistics_read_the_polarity_from_binned_pixels_too(dtype):
    import dask.array as da

    from unetkit.io import LazyImage
    from unetkit.io.image import canonical
    from unetkit.planes import plane_params, select
    for frame, bright_background in ((dim_colony(), False), (65535 - dim_colony(), True)):
        data, axes = canonical(da.from_array(frame.astype(dtype), chunks=100), "YX")
        plane = select(LazyImage(None, data, axes), 1).plane(0, 0)
        streamed = plane_params(plane, 1, "percentile", "auto", "refuse", block=64, in_memory_pixels=0)
        assert streamed.invert == bright_background


def test_a_bad_denoise_value_is_refused_in_one_line(tmp_path, capsys):
    from unetkit.cli import main
    write_image(tmp_path / "a.tif", dim_colony(size=64))
    with pytest.raises(SystemExit) as stop:
        main(["count", str(tmp_path / "a.tif"), "--model", "nuclei", "--out", str(tmp_path / "c"), "--denoise", "lots"])
    assert stop.value.code == 2
    assert "'lots': use auto, off or a Gaussian sigma in px from 0 to 10" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
