"""Nuclei of a size and texture DSB 2018 does not have, made from DSB 2018 images nobody trained on:
each image and its mask are enlarged ``--zoom`` times (nuclei of 15 px become 45-60 px, the size of the
issue's stem-cell movie), and with ``--texture`` every nucleus gets a chromatin-like texture (smoothed
noise, grain ``--grain`` px, contrast +-``--texture``) and a brightness of its own (x ``--dim``..1), so dim
nuclei lie beside bright ones. ``--style spots`` gives another texture instead, one no training augmentation
makes: bright chromocentres (Gaussian foci, one per ``--spot-area`` px^2, 1-2x the nucleus' brightness) and dark
nucleoli, as mouse stem-cell nuclei show in Hoechst. A stand-in for the issue's hidden check "fluorescence nuclei of a size and
texture that are not in DSB 2018", which `count`'s defaults must pass without being told the size.

Usage: python benchmarks/nuclei/new_microscope.py DATA_DIR STEMS_FILE OUT [--zoom 3] [--texture 0.5] [--grain 3]
       [--dim 0.25] [--style noise|spots] [--spot-area 250] [--seed 0] [--camera-noise 0.02]
STEMS_FILE: e.g. benchmarks/nuclei/new_microscope_stems.txt, 30 seeded fluorescence-like dsb2018_extra images.
Writes OUT/images/*.tif (16-bit) and OUT/truth/*.png; score with `unetkit count` + `unetkit evaluate --instances`.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from unetkit.io import read_array, write_image


def spots(labels: np.ndarray, per_area: float, rng: np.random.Generator) -> np.ndarray:
    """A multiplicative field, 1 outside foci: bright chromocentres (sigma 2-3 px, x 2-3 at the peak), one
    per ``per_area`` px^2 of nucleus, and dark nucleoli (sigma 4 px, x 0.4), one per 4 x ``per_area``."""
    inside = np.flatnonzero(labels.ravel() > 0)
    field = np.zeros(labels.shape, np.float32)
    for every, sigma, lo, hi in ((per_area, 2.5, 1.0, 2.0), (4 * per_area, 4.0, -0.6, -0.6)):
        n = rng.poisson(len(inside) / every)
        impulses = np.zeros(labels.size, np.float32)
        impulses[rng.choice(inside, size=n, replace=True)] = rng.uniform(lo, hi, n) * 2 * np.pi * sigma ** 2
        field += ndimage.gaussian_filter(impulses.reshape(labels.shape), sigma)
    return 1.0 + field


def transform(img: np.ndarray, mask: np.ndarray, zoom: float, texture: float, grain: float, dim: float,
              rng: np.random.Generator, style: str = "noise", spot_area: float = 250.0) -> tuple[np.ndarray, np.ndarray]:
    """(16-bit gray image, 16-bit label image), both enlarged; nuclei textured and dimmed one by one."""
    gray = img[..., :3].astype(np.float32).mean(axis=2) if img.ndim == 3 else img.astype(np.float32)
    h, w = gray.shape
    size = (int(round(w * zoom)), int(round(h * zoom)))
    big = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    labels = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)
    background = float(np.median(big[labels == 0])) if (labels == 0).any() else 0.0
    gain = np.ones(labels.max() + 1, np.float32)
    gain[1:] = rng.uniform(dim, 1.0, labels.max())
    if style == "spots":
        field = spots(labels, spot_area, rng)
    else:
        field = ndimage.gaussian_filter(rng.standard_normal(big.shape).astype(np.float32), grain)
        field = 1.0 + texture * field / (field.std() + 1e-9)
    inside = labels > 0
    # soften the object edge so the texture and gain do not draw a hard outline the mask would give away
    weight = ndimage.gaussian_filter(inside.astype(np.float32), zoom)
    per_pixel = gain[ndimage.grey_dilation(labels, size=3)] * np.clip(field, 0.1, None)
    factor = 1.0 + weight * (per_pixel - 1.0)
    out = background + (big - background) * factor
    out = out + rng.normal(0, 0.01 * (out.max() - background + 1e-9), out.shape)   # camera noise
    out = np.clip(out, 0, None)
    return (out / out.max() * 65535).astype(np.uint16), labels.astype(np.uint16)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data"); p.add_argument("stems"); p.add_argument("out")
    p.add_argument("--zoom", type=float, default=3.0)
    p.add_argument("--texture", type=float, default=0.5)
    p.add_argument("--grain", type=float, default=3.0)
    p.add_argument("--dim", type=float, default=0.25)
    p.add_argument("--style", choices=("noise", "spots"), default="noise")
    p.add_argument("--spot-area", type=float, default=250.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--camera-noise", type=float, default=0.0,
                   help="then Gaussian noise of this share of the image's 0.1-99.9 percentile range (own seed)")
    a = p.parse_args()
    noise_rng = np.random.default_rng(a.seed + 7)   # its own stream: the images are those of no noise, plus noise
    rng = np.random.default_rng(a.seed)
    out = Path(a.out)
    (out / "images").mkdir(parents=True, exist_ok=True); (out / "truth").mkdir(exist_ok=True)
    for s in Path(a.stems).read_text().split():
        img, mask = read_array(Path(a.data) / "images" / f"{s}.png"), read_array(Path(a.data) / "masks" / f"{s}.png")
        mask = mask[..., 0] if mask.ndim == 3 else mask
        image, labels = transform(img, mask, a.zoom, a.texture, a.grain, a.dim, rng, a.style, a.spot_area)
        if a.camera_noise:
            f = image.astype(np.float32)
            sigma = a.camera_noise * (np.percentile(f, 99.9) - np.percentile(f, 0.1))
            image = np.clip(f + noise_rng.normal(0, sigma, f.shape), 0, 65535).astype(np.uint16)
        write_image(out / "images" / f"{s}.tif", image)
        write_image(out / "truth" / f"{s}.png", labels)


if __name__ == "__main__":
    main()
