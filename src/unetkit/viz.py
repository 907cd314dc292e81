"""Pictures: overlays, image / truth / prediction grids, training curves (matplotlib, Agg)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .io import write_image
from .data.prepare import to_uint8
from .progress import plural

PALETTE = np.array([[0, 0, 0], [255, 64, 64], [64, 160, 255], [255, 210, 0], [80, 220, 120]], np.uint8)


def as_rgb(image: np.ndarray) -> np.ndarray:
    img = to_uint8(image)
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def display_image(native: np.ndarray) -> np.ndarray:
    """A native image as the user knows it (not inverted), RGB in about [0, 1], for drawing on."""
    from .data.prepare import prepare
    return prepare(native, 3, "percentile", "never")


def overlay(image: np.ndarray, classes: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """Image (float, ~[0,1]) with foreground classes tinted and their outlines drawn."""
    from skimage.segmentation import find_boundaries
    rgb = as_rgb(image).astype(np.float32)
    colors = PALETTE[np.clip(classes, 0, len(PALETTE) - 1)].astype(np.float32)
    fg = classes > 0
    rgb[fg] = (1 - alpha) * rgb[fg] + alpha * colors[fg]
    edge = find_boundaries(classes, mode="inner") & fg
    rgb[edge] = colors[edge]
    return rgb.astype(np.uint8)


def _savefig(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return write_image(path, buf)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _number(value) -> float:
    """A history.csv cell as a number; NaN for what is not one (``NA``: a metric the epoch did not log)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def plot_history(csv_path, png_path) -> Path | None:
    """Loss and each metric, train and validation, one panel each."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return None
    with open(csv_path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    names = [k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "learning_rate"]
    plt = _plt()
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, [_number(r[name]) for r in rows], label="train")
        val = [_number(r.get(f"val_{name}")) for r in rows]
        if not np.isnan(val).all():   # no validation set: Keras' CSVLogger still writes the columns, all NA
            ax.plot(epochs, val, label="validation")
        ax.set_title(name)
        if "loss" in name:
            ax.set_yscale("log")  # the first epochs would otherwise flatten the rest
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _savefig(fig, Path(png_path))


def prediction_grid(rows: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray]], png_path,
                    scores: list[str] | None = None) -> Path:
    """One row per image: image | ground truth | prediction (as in the skin-lesion tutorial)."""
    plt = _plt()
    n = len(rows)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for i, (name, image, truth, pred) in enumerate(rows):
        panels = [(as_rgb(image), name), (truth, "ground truth"), (pred, "prediction" + (f" ({scores[i]})" if scores else ""))]
        for ax, (arr, title) in zip(axes[i], panels):
            ax.axis("off")
            if arr is None:
                continue
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, interpolation="nearest")
            ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _savefig(fig, Path(png_path))


def count_overlay(image: np.ndarray, labels: np.ndarray, count: int | None = None) -> np.ndarray:
    """Image with each object's outline in its own colour, its id at its centre, and the count (``count``, else the
    objects the labels hold). Ids need not run 1..N: a tracked frame holds the movie's ids, and a preview of a
    large image, drawn at a coarser pyramid level, loses objects smaller than its pixels."""
    import cv2
    from skimage.segmentation import find_boundaries
    rgb = as_rgb(image).copy()
    ids = np.unique(labels[labels > 0])
    rng = np.random.default_rng(0)
    colors = rng.integers(80, 256, (len(ids) + 1, 3)).astype(np.uint8)
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    rgb[edge] = colors[np.searchsorted(ids, labels[edge]) + 1]
    scale = max(0.3, min(rgb.shape[:2]) / 1000)
    if len(ids) <= 2000:  # ids stay readable up to a few thousand objects
        from scipy import ndimage
        for i, (cy, cx) in zip(ids.tolist(), ndimage.center_of_mass(labels > 0, labels, ids)):
            cv2.putText(rgb, str(i), (int(cx) - 4, int(cy) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale,
                        (255, 255, 255), 1, cv2.LINE_AA)
    n = len(ids) if count is None else count
    cv2.putText(rgb, f"count: {n}", (8, int(30 * scale * 2) + 4), cv2.FONT_HERSHEY_SIMPLEX, 2 * scale,
                (255, 255, 0), max(1, int(2 * scale)), cv2.LINE_AA)
    return rgb


def size_histogram(areas: dict[str, list[float]], png_path, unit: str = "px") -> Path:
    """Histogram of object areas over the whole set, with the median marked."""
    plt = _plt()
    values = np.concatenate([np.asarray(v, float) for v in areas.values()]) if areas else np.zeros(0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if values.size:
        ax.hist(values, bins=min(60, max(10, values.size // 10)), color="#4a90d9")
        ax.axvline(np.median(values), color="k", ls="--", label=f"median {np.median(values):.1f} {unit}")
        ax.legend()
    ax.set_xlabel(f"object area ({unit})")
    ax.set_ylabel("objects")
    ax.set_title(f"{plural(values.size, 'object')} in {plural(len(areas), 'image')}")
    fig.tight_layout()
    return _savefig(fig, Path(png_path))
