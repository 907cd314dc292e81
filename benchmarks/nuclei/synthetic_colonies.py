"""Synthetic colonies of big fluorescence nuclei, a stand-in for the issue's stem-cell movie (no such data is
shared): 16-bit frames with a camera offset and Poisson noise, nuclei packed on a jittered hexagonal grid
(a quarter of the places left empty), each an ellipse clipped to its Voronoi cell and shrunk by 0 to
--gap-max px, so neighbours touch flat to flat or nearly; a grain (Gaussian-smoothed noise, 2.5 px, +-texture),
1-3 dark nucleoli, and a brightness of its own in [--low, 1] x --photons (dim beside bright).

Unlike new_microscope.py (real DSB 2018 images, enlarged and retextured), everything here is drawn, so the
nuclei's size, packing, contrast and noise can be swept one at a time to map where `count` holds.

Usage: python benchmarks/nuclei/synthetic_colonies.py OUT [--n 6] [--radius 28] [--low 0.1] [--photons 600]
       [--texture 0.3] [--gap-max 2] [--seed 200]
Then:  unetkit count OUT/images --model nuclei --out OUT/count && unetkit evaluate --instances --pred OUT/count --truth OUT/truth
"""
import argparse
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage
from scipy.spatial import cKDTree

SIZE = 1024
OFFSET = 100   # camera offset, counts


def colony(rng, radius, low, photons, texture, gap_max):
    """(image uint16, labels uint16) of one frame."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    step = 2.04 * radius
    rows = np.arange(radius, SIZE - radius, step * 0.866)
    pts = np.array([(y, x + (step / 2 if i % 2 else 0)) for i, y in enumerate(rows)
                    for x in np.arange(radius, SIZE - radius, step)])
    pts = pts + rng.normal(0, radius * 0.12, pts.shape)
    pts = pts[rng.random(len(pts)) < 0.75]
    _, owner = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], 1))
    owner = owner.reshape(SIZE, SIZE)
    labels = np.zeros((SIZE, SIZE), np.uint16)
    signal = np.zeros((SIZE, SIZE))
    n = 0
    for i, (cy, cx) in enumerate(pts):
        r, aspect, theta = radius * rng.uniform(0.9, 1.15), rng.uniform(0.8, 1.0), rng.uniform(0, np.pi)
        y0, y1 = int(max(cy - 2 * r, 0)), int(min(cy + 2 * r, SIZE))
        x0, x1 = int(max(cx - 2 * r, 0)), int(min(cx + 2 * r, SIZE))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / r
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / (r * aspect)
        inside = (u * u + v * v <= 1) & (owner[y0:y1, x0:x1] == i)
        gap = int(rng.integers(0, gap_max + 1))
        if gap:
            inside = ndimage.binary_erosion(inside, iterations=gap)
        if inside.sum() < 0.25 * np.pi * r * r:   # cut off by the frame's edge
            continue
        n += 1
        labels[y0:y1, x0:x1][inside] = n
        grain = ndimage.gaussian_filter(rng.normal(size=inside.shape), 2.5)
        value = rng.uniform(low, 1.0) * photons * np.clip(1 + texture * grain / grain.std(), 0.2, None)
        for _ in range(rng.integers(1, 4)):   # nucleoli: dark, 3-7 px
            ny, nx, nr = rng.normal(cy - y0, r / 3), rng.normal(cx - x0, r / 3), rng.uniform(3, 7)
            value[(dy + cy - y0 - ny) ** 2 + (dx + cx - x0 - nx) ** 2 <= nr * nr] *= 0.45
        signal[y0:y1, x0:x1][inside] += value[inside]
    image = rng.poisson(ndimage.gaussian_filter(signal, 1.2) + OFFSET)   # optics blur, then shot noise
    return np.clip(image, 0, 65535).astype(np.uint16), labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=6, help="frames")
    ap.add_argument("--radius", type=float, default=28, help="typical nucleus radius, px")
    ap.add_argument("--low", type=float, default=0.1, help="dimmest nucleus, as a fraction of the brightest")
    ap.add_argument("--photons", type=float, default=600, help="brightest nucleus' mean signal above the offset, counts")
    ap.add_argument("--texture", type=float, default=0.3, help="grain amplitude, fraction of the nucleus' brightness")
    ap.add_argument("--gap-max", type=int, default=2, help="largest gap between neighbours, px (0: all touch)")
    ap.add_argument("--seed", type=int, default=200)
    a = ap.parse_args()
    for kind in ("images", "truth"):
        (a.out / kind).mkdir(parents=True, exist_ok=True)
    for k in range(a.n):
        image, labels = colony(np.random.default_rng(a.seed + k), a.radius, a.low, a.photons, a.texture, a.gap_max)
        tifffile.imwrite(a.out / "images" / f"colony{k}.tif", image)
        tifffile.imwrite(a.out / "truth" / f"colony{k}.tif", labels)
        print(f"[{k + 1}/{a.n}] colony{k}.tif: {int(labels.max())} nuclei", flush=True)


if __name__ == "__main__":
    main()
