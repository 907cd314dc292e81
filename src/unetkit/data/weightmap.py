"""The U-Net paper's pixel weight map (Ronneberger et al. 2015, eq. 2):

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

w_c balances class frequencies; d1 and d2 are the distances to the border of the
nearest and second-nearest object. The border term is applied on background pixels,
where it makes the thin gaps between touching objects expensive to get wrong. Instance masks
often have no gap: two labels meet pixel to pixel. ``contacts`` puts the term on those meeting
pixels too (for them d1 = 0 and d2 ~ 1, so they weigh ~w0, as a one-pixel gap would).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def class_weights(label_maps: list[np.ndarray], num_classes: int) -> np.ndarray:
    """Median-frequency balancing: w_c(k) = median(freq) / freq(k) over a training set."""
    counts = np.zeros(num_classes, np.float64)
    for lab in label_maps:
        counts += np.bincount(lab.ravel(), minlength=num_classes)[:num_classes]
    freq = counts / max(counts.sum(), 1)
    freq = np.where(freq > 0, freq, np.nan)
    w = np.nanmedian(freq) / freq
    return np.nan_to_num(w, nan=1.0).astype(np.float32)


def two_nearest_distances(objects: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """d1, d2 per pixel: distances to the nearest and second-nearest labelled object.

    Each object's distance transform is computed only inside its bounding box grown by
    ``reach`` pixels (beyond that the border term is negligible), so the cost scales with
    object count x object size rather than object count x image size.
    """
    h, w = objects.shape
    big = np.float32(1e6)
    d1 = np.full((h, w), big, np.float32)
    d2 = np.full((h, w), big, np.float32)
    r = int(np.ceil(reach))
    for i, sl in enumerate(ndimage.find_objects(objects), start=1):
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - r, 0), min(sl[0].stop + r, h)
        x0, x1 = max(sl[1].start - r, 0), min(sl[1].stop + r, w)
        inside = objects[y0:y1, x0:x1] == i
        d = ndimage.distance_transform_edt(~inside).astype(np.float32)
        a, b = d1[y0:y1, x0:x1], d2[y0:y1, x0:x1]
        d2[y0:y1, x0:x1] = np.minimum(b, np.maximum(a, d))
        d1[y0:y1, x0:x1] = np.minimum(a, d)
    return d1, d2


def border_weight_map(labels: np.ndarray, objects: np.ndarray, w_c: np.ndarray,
                      w0: float = 10.0, sigma: float = 5.0, contacts: bool = False) -> np.ndarray:
    """Weight map of one image.

    ``labels``: class per pixel (0 = background); ``objects``: instance ids (0 = none),
    e.g. connected components of the foreground for binary masks.
    """
    w = w_c[labels].astype(np.float32)
    if objects.max() > 1:
        d1, d2 = two_nearest_distances(objects, reach=4 * sigma)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
        on = objects == 0
        if contacts:
            on |= contact_pixels(objects)
        w += np.where(on, border, 0).astype(np.float32)
    return w


def contact_pixels(objects: np.ndarray) -> np.ndarray:
    """Pixels of an object with a pixel of another object among their 8 neighbours."""
    objects = np.asarray(objects)
    higher = ndimage.maximum_filter(objects, size=3) != objects
    # background counted as above every id, so only another object's smaller id can show below
    lower = ndimage.minimum_filter(np.where(objects > 0, objects, objects.max() + 1), size=3) != objects
    return (objects > 0) & (higher | lower)


def objects_of(labels: np.ndarray) -> np.ndarray:
    """Objects of a binary/class label map: 4-connected components of non-background."""
    objects, _ = ndimage.label(labels > 0)
    return objects
