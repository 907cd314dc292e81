"""Noise the model never saw: measure an image's noise and smooth it down to the training images' level.

A network trained on mostly clean images (DSB 2018's nuclei) loses objects under the shot noise of a dim
camera frame, where the eye still sees them: on synthetic colonies of big nuclei at 20 photons the bundled
nuclei model found a fifth of them (benchmarks/README.md, 25). So training records how noisy its images were
(``ceiling``: the 99th percentile of their noise, in normalised units at the working scale, stored in the model
as ``noise``), and prediction smooths an image whose noise lies well above it (``MARGIN``) by the smallest
Gaussian that brings white noise of the measured level down to the ceiling. Then it stretches the smoothed image
so that its percentiles span 0-1 again: noise widens an image's 1st-99.8th percentile range, so its nuclei sit
dim after normalisation (on three of those frames, smoothing without the stretch found 112-121 of about 250
nuclei each, with it 199-217). Images as clean as the training images are left exactly as they are.

The level is measured on a central window of at most ``WINDOW`` x ``WINDOW`` pixels, native and resized to the
working scale as the image is: bounded memory, and the same number for the in-memory and the block-wise path,
which both smooth tile by tile (``Smoothing.apply``), so their results stay equal.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .data.prepare import PERCENTILES

WINDOW = 2048       # px a side: the central window the noise is measured on, native and at the working scale
STEP = 0.1          # px: smoothing is chosen on this grid, so near-equal measurements give the same Gaussian
MOST = 3.0          # px: the strongest smoothing (noise beyond that is not a camera's)
PERCENTILE = 99     # of the training images' noise levels: the model's ceiling
MARGIN = 1.25       # smooth only above MARGIN x the ceiling: a 99th percentile of a few dozen images is no hard edge
# (four of the five ISBI 2012 slices the demo predicts measure 1.02-1.10x the ceiling of the 22 it trains on, and
# their membranes are 1-2 px wide: smoothing them would only cost), while synthetic colonies at 60 photons (1.39x)
# gained 0.89 -> 0.93 F1

# Immerkaer (1996): the difference of two Laplacians cancels planes and straight edges; on white noise of
# std s its response has std 6 s (the kernel's squared weights sum to 36)
_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_MAD = 1.4826       # median absolute deviation -> standard deviation, for Gaussian noise


def noise_level(x: np.ndarray) -> float:
    """Standard deviation of the white noise in ``x`` (H, W) or (H, W, C), the mean over channels.

    The median of the absolute response (not its mean, as in Immerkaer's paper) keeps object edges and
    texture, which a few pixels carry, from reading as noise."""
    x = np.asarray(x, np.float32)
    planes = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[-1])]
    levels = []
    for p in planes:
        if min(p.shape) < 3:
            return 0.0
        r = cv2.filter2D(p, -1, _KERNEL, borderType=cv2.BORDER_REFLECT_101)[1:-1, 1:-1]
        levels.append(_MAD * float(np.median(np.abs(r))) / 6.0)
    return float(np.mean(levels))


def central_window(shape, scale: float = 1.0) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the central window of an image of ``shape`` (or all of it) that the noise is measured
    on, seen at ``scale``: ``WINDOW`` native px a side, fewer where the image is enlarged, so that the resized
    window stays within ``WINDOW`` px a side too."""
    side = max(int(WINDOW / max(scale, 1.0)), 16)
    h, w = int(shape[0]), int(shape[1])
    y0, x0 = max((h - side) // 2, 0), max((w - side) // 2, 0)
    return y0, min(y0 + side, h), x0, min(x0 + side, w)


def gain(sigma: float) -> float:
    """The factor by which a 2-D Gaussian of ``sigma`` px (OpenCV's discrete kernel) scales white noise's std."""
    if sigma <= 0:
        return 1.0
    k = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma)) + 1, sigma).ravel()
    return float(np.sum(k ** 2))   # separable: sqrt(sum k^2)^2


def smoothing_for(level: float, ceiling: float | None) -> float:
    """The smallest Gaussian sigma (px, on the ``STEP`` grid, at most ``MOST``) that brings white noise of
    ``level`` to ``ceiling`` or below; 0 where the level is within ``MARGIN`` x the ceiling or no ceiling is known."""
    if not ceiling or level <= MARGIN * ceiling:
        return 0.0
    for sigma in np.arange(STEP, MOST + STEP / 2, STEP):
        if level * gain(float(sigma)) <= ceiling:
            return round(float(sigma), 2)
    return MOST


@dataclass(frozen=True)
class Smoothing:
    """A Gaussian of ``sigma`` px on every tile, then ``(x - lo) / span``: the stretch that gives the smoothed
    image its percentile range back. ``measured``: chosen from the image's noise (``denoise auto``)."""
    sigma: float = 0.0
    lo: float = 0.0
    span: float = 1.0
    measured: bool = False

    def __bool__(self) -> bool:
        return self.sigma > 0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A batch (B, H, W, C) smoothed and stretched; ``x`` itself where there is nothing to do."""
        if not self:
            return x
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = blur(x[i], self.sigma).reshape(x[i].shape)
        return (out - np.float32(self.lo)) / np.float32(self.span)


def describe(smoothing: Smoothing) -> str:
    """What a progress line says of a smoothing ("" where there is none)."""
    if not smoothing:
        return ""
    return f"smoothed {smoothing.sigma:g} px" + (" (noisier than the model's training images)"
                                                 if smoothing.measured else "")


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def needs_window(choice: str, ceiling: float | None) -> bool:
    """Whether ``choose`` needs the image: to measure its noise (auto, with a ceiling) or to stretch (a sigma)."""
    if choice == "auto":
        return bool(ceiling)
    return choice != "off" and float(choice) > 0


def choose(window: np.ndarray | None, choice: str, ceiling: float | None) -> Smoothing:
    """The smoothing of an image whose normalised central window, at the scale the model sees it, is ``window``.

    ``choice``: auto (what ``smoothing_for`` asks of its noise against ``ceiling``; none without a ceiling),
    off, or a sigma in px."""
    if not needs_window(choice, ceiling):
        return Smoothing()
    measured = choice == "auto"
    sigma = smoothing_for(noise_level(window), ceiling) if measured else float(choice)
    if not sigma:
        return Smoothing()
    lo, hi = np.percentile(blur(np.asarray(window, np.float32), sigma), PERCENTILES)
    return Smoothing(sigma, float(lo), float(max(hi - lo, 1e-6)), measured)


def ceiling(images) -> float | None:
    """The noise ceiling of a training set: the ``PERCENTILE``th percentile of its images' noise levels
    (normalised images at the working scale, each measured on its central window)."""
    levels = []
    for x in images:
        y0, y1, x0, x1 = central_window(x.shape[:2])
        levels.append(noise_level(x[y0:y1, x0:x1]))
    return round(float(np.percentile(levels, PERCENTILE)), 5) if levels else None
