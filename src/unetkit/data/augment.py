"""Paired augmentation: one geometric mapping applied to image, mask and weight map.

Geometry (rotation, shear, zoom, flips, the paper's elastic deformation) is composed
into a single sampling map and applied with one ``cv2.remap`` per array: linear
interpolation for the image and weights, nearest neighbour for the mask, so labels
never blend. Sampling the output patch straight from the full image gives real
context at patch borders (mirror only at the image's own borders).

We write the elastic warp ourselves because the paper's version (random displacements
on a coarse 3x3 grid, smoothly interpolated) differs from albumentations' Gaussian
per-pixel field; OpenCV does the heavy lifting.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..config import SEED_AUGMENT, AugmentConfig  # noqa: F401  (settings live in config)


def elastic_field(shape, sigma: float, grid: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel displacement (dy, dx) from random N(0, sigma) shifts on a coarse grid,
    upsampled with bicubic interpolation (Ronneberger et al. 2015, section 3.1)."""
    h, w = shape
    coarse = rng.normal(0.0, sigma, size=(2, grid, grid)).astype(np.float32)
    dy = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC)
    dx = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC)
    return dy, dx


def sampling_map(out_shape, center, cfg: AugmentConfig, rng: np.random.Generator, src_scale=(1.0, 1.0)):
    """Source coordinates (map_x, map_y) for every output pixel of a patch centred at ``center``.

    ``src_scale`` maps output pixels to source pixels before augmentation (resize mode).
    """
    h, w = out_shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ys -= (h - 1) / 2.0
    xs -= (w - 1) / 2.0
    sy, sx = src_scale
    m = np.diag([sx, sy]).astype(np.float64)
    if cfg.enabled:
        theta = np.deg2rad(rng.uniform(-cfg.rotation, cfg.rotation))
        shear = np.deg2rad(rng.uniform(-cfg.shear, cfg.shear))
        zoom = rng.uniform(1 - cfg.zoom, 1 + cfg.zoom)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        sh = np.array([[1.0, np.tan(shear)], [0.0, 1.0]])
        flip = np.diag([-1.0 if cfg.hflip and rng.random() < 0.5 else 1.0,
                        -1.0 if cfg.vflip and rng.random() < 0.5 else 1.0])
        m = m @ rot @ sh @ flip / zoom
    map_x = m[0, 0] * xs + m[0, 1] * ys + center[1]
    map_y = m[1, 0] * xs + m[1, 1] * ys + center[0]
    if cfg.enabled and cfg.elastic_prob > 0 and rng.random() < cfg.elastic_prob:
        dy, dx = elastic_field((h, w), cfg.elastic_sigma, cfg.elastic_grid, rng)
        map_x += dx * sx
        map_y += dy * sy
    return map_x.astype(np.float32), map_y.astype(np.float32)


def remap(arr: np.ndarray, map_x, map_y, nearest: bool) -> np.ndarray:
    """Sample ``arr`` at the map with mirror borders; keeps a trailing channel axis."""
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    src = arr
    if arr.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        src = arr.astype(np.float32)  # OpenCV does not remap int32 labels
    out = cv2.remap(src, map_x, map_y, interp, borderMode=cv2.BORDER_REFLECT_101)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out.astype(arr.dtype, copy=False)


def smooth_noise(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A 2-D Gaussian-smoothed white-noise field of zero mean and unit standard deviation."""
    field = cv2.GaussianBlur(rng.normal(size=shape[:2]).astype(np.float32), (0, 0), sigma)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def texture(img: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative grain and shading (image only): textured nuclei break a model trained on
    smooth ones into pieces, and dim nuclei beside bright ones go missing (issue 10's stem-cell
    frames). Multiplicative, so a dark background stays dark; one field for all channels."""
    gain = np.ones(img.shape[:2], np.float32)
    if cfg.texture:
        gain *= np.clip(1 + rng.uniform(0, cfg.texture) * smooth_noise(img.shape, rng.uniform(1, 4), rng), 0, None)
    if cfg.shading:
        field = smooth_noise(img.shape, rng.uniform(30, 60), rng)
        span = float(field.max() - field.min()) or 1.0
        gain *= 1 - rng.uniform(0, cfg.shading) * (field.max() - field) / span
    return img * (gain[..., None] if img.ndim == 3 else gain)


def shot_noise(img: np.ndarray, fewest: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent noise as a camera counts photons: a pixel of normalised value x gets the
    Gaussian form of Poisson noise at p photons per unit, std sqrt(x / p), with p log-uniform in
    [fewest, 100 x fewest], so most patches stay near clean and some are as grainy as a dim
    live-cell frame (issue 10: `count` lost most nuclei there, benchmarks 25). The dark
    background gets none of it: the additive ``noise`` stands in for a camera's read noise. It acts on
    normalised patches, so the wider percentile range that noise gives a whole image before it is
    normalised (dimmer nuclei after the stretch; benchmarks 25) is not imitated."""
    photons = float(np.exp(rng.uniform(np.log(fewest), np.log(100 * fewest))))
    std = np.sqrt(np.clip(img, 0, None) / photons)
    return img + std * rng.standard_normal(img.shape, dtype=np.float32)


def object_gain(labels: np.ndarray, most: float, rng: np.random.Generator) -> np.ndarray:
    """A gain per object, uniform in [1 - most, 1], 1 on the background. Objects are the connected regions of
    class 1 (a boundary target's interiors, a binary target's foreground); class-2 pixels (the boundary ring)
    take the gain of the nearest interior, so a nucleus dims as a whole. Shading dims a region 30-60 px wide,
    which darkens neighbours together; a live-cell frame has a dim nucleus pressed against a bright one (issue
    10: "the dimmest are missed"), and only a gain per object makes that."""
    from scipy import ndimage
    n, comp = cv2.connectedComponents((labels == 1).astype(np.uint8), connectivity=4)
    gains = np.concatenate([[1.0], rng.uniform(1 - most, 1, n - 1)]).astype(np.float32)
    gain = gains[comp]
    ring = labels == 2
    if n > 1 and ring.any():
        idx = ndimage.distance_transform_edt(comp == 0, return_distances=False, return_indices=True)
        gain[ring] = gains[comp[idx[0][ring], idx[1][ring]]]
    return gain


def intensity(img: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
              labels: np.ndarray | None = None) -> np.ndarray:
    """Image-only changes: per-object dimming (needs the patch's ``labels``), texture and shading, shot noise,
    contrast, brightness, per-channel colour jitter, gamma and noise."""
    if not cfg.enabled:
        return img
    out = img
    if cfg.dim_objects and labels is not None and rng.random() < 0.5:   # half the patches keep their own contrast
        gain = object_gain(labels, cfg.dim_objects, rng)
        out = out * (gain[..., None] if out.ndim == 3 else gain)
    if cfg.texture or cfg.shading:
        out = texture(out, cfg, rng)
    if cfg.shot_noise:   # after texture and shading (they change the signal the photons come from)
        out = shot_noise(out, cfg.shot_noise, rng)
    if cfg.contrast:
        mean = out.mean()
        out = (out - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    if cfg.brightness:
        out = out + rng.uniform(-cfg.brightness, cfg.brightness)
    if cfg.channel_jitter and out.ndim == 3 and out.shape[-1] > 1:
        c, j = out.shape[-1], cfg.channel_jitter
        out = out * rng.uniform(1 - j, 1 + j, c).astype(np.float32) + rng.uniform(-j / 2, j / 2, c).astype(np.float32)
    if cfg.gamma:
        g = rng.uniform(1 - cfg.gamma, 1 + cfg.gamma)
        out = np.power(np.clip(out, 0, None), g)
    if cfg.noise:
        out = out + rng.normal(0, cfg.noise, size=out.shape).astype(np.float32)
    return out.astype(np.float32)
