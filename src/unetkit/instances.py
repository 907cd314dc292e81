"""From predicted probabilities to objects: label, split touching ones, filter, measure.

Methods (``split``):
  ``watershed``  seeded watershed. With a model that has a distance head (``--aux distance``)
                 the markers are the object centres it predicts (distance to the border above
                 ``distance_threshold``) and the relief is that distance: a textured nucleus has
                 one centre even where its interior probability is patchy. With a boundary-aware
                 model (background / interior / boundary) the markers are the confident
                 interiors; with a binary model they are the peaks of the distance transform.
                 Splits touching objects.
  ``components`` connected components of the foreground (merges touching objects).
  ``canny``      the seeds' count: Canny edges of the mask, then OpenCV findContours.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from skimage.measure import label as sk_label
from skimage.measure import regionprops
from skimage.morphology import remove_small_holes
from skimage.segmentation import watershed

from .config import InstanceConfig  # noqa: F401  (settings live in config)
from .errors import UnetkitError

METHODS = ("watershed", "components", "canny")
SEEDS = ("auto", "interior", "distance")


def distance_seeds(meta: dict, cfg: InstanceConfig) -> bool:
    """Whether the watershed seeds on the model's distance head (see ``InstanceConfig.seeds``)."""
    if cfg.seeds not in SEEDS:
        raise UnetkitError(f"--seeds {cfg.seeds}: choose one of {', '.join(SEEDS)}")
    has_head = meta.get("aux") == "distance"
    if cfg.seeds == "distance" and not has_head:
        raise UnetkitError("--seeds distance needs a model trained with a distance head (train --aux distance); "
                           "use --seeds interior")
    return has_head and cfg.seeds != "interior" and cfg.split == "watershed"


# the count settings a model file may carry: 'unetkit calibrate' sets the thresholds; the seed smoothing travels
# with them (the bundled nuclei model stores 2 px: one seed per textured nucleus, benchmarks/README.md 19)
CALIBRATED = ("threshold", "marker_threshold", "distance_threshold", "min_distance", "smooth", "min_score")


def instance_settings(meta: dict, **overrides) -> InstanceConfig:
    """The model's count settings (calibrated ones stored in it, else the defaults), then
    ``overrides`` (options the user gave; None means not given)."""
    stored = {k: v for k, v in (meta.get("instances") or {}).items() if k in CALIBRATED}
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("smooth", 0) < 0:
        raise UnetkitError(f"--smooth {given['smooth']}: a Gaussian sigma in px, 0 (off) or more")
    if not 0 <= given.get("min_score", 0) <= 1:
        raise UnetkitError(f"--min-score {given['min_score']}: a probability, from 0 (keep every object) to 1")
    for key in ("threshold", "marker_threshold", "distance_threshold"):   # 0 or 1 keeps all or nothing, in silence
        if key in given and not 0 < given[key] < 1:
            raise UnetkitError(f"--{key.replace('_', '-')} {given[key]}: a probability between 0 and 1 (exclusive)")
    for key, low in (("min_size", 0), ("min_distance", 1)):
        if key in given and given[key] < low:
            raise UnetkitError(f"--{key.replace('_', '-')} {given[key]}: px, at least {low}")
    return InstanceConfig(**{**stored, **given})


def split_distance(probs: np.ndarray, with_distance: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(the task's probabilities, the distance head or None) of a prediction whose last
    channel is the distance head when ``with_distance``."""
    if not with_distance:
        return probs, None
    return probs[..., :-1], probs[..., -1]


def interior_of(probs: np.ndarray) -> np.ndarray | None:
    """The interior probability of 3-class boundary models (background / interior / boundary), else None."""
    return probs[..., 1] if probs.ndim == 3 and probs.shape[-1] == 3 else None


def foreground_and_interior(probs: np.ndarray, cfg: InstanceConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """Foreground mask and, for 3-class boundary models, the interior probability."""
    if probs.ndim == 2:
        probs = probs[..., None]
    if probs.shape[-1] == 1:
        return probs[..., 0] >= cfg.threshold, None
    if probs.shape[-1] == 3:
        return (probs[..., 1] + probs[..., 2]) >= cfg.threshold, interior_of(probs)
    return probs.argmax(-1) > 0, None


def score_map(probs: np.ndarray, interior: np.ndarray | None) -> np.ndarray:
    """The map an object's score is read from: the interior probability of boundary models
    (a nucleus has a confident centre), the foreground probability of the others."""
    if interior is not None:
        return interior
    probs = probs[..., None] if probs.ndim == 2 else probs
    return probs[..., 0] if probs.shape[-1] == 1 else 1.0 - probs[..., 0]


def object_scores(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each object's score, the highest value of ``scores`` inside it (index k-1 for label k; -inf for an id with
    no pixels). The peak, not the mean: a small nucleus is mostly boundary, its mean would punish its size.
    One unbuffered maximum over the pixels (``ndimage.maximum`` sorts them: 20-50x slower on a 1 Mpx image)."""
    n = int(labels.max())
    if n == 0:
        return np.zeros(0, np.float32)
    best = np.full(n + 1, -np.inf, np.float32)
    np.maximum.at(best, labels.ravel(), np.asarray(scores, np.float32).ravel())
    return best[1:]


def is_sure(scores: np.ndarray, min_score: float) -> np.ndarray:
    """Which objects ``count`` keeps, by their scores (``object_scores``): the one rule ``calibrate`` scores too."""
    return scores >= min_score


def drop_unsure(labels: np.ndarray, scores: np.ndarray, min_score: float) -> np.ndarray:
    """``labels`` without the objects whose score (``object_scores``, or any per-object value) is under
    ``min_score`` (not renumbered)."""
    if min_score <= 0 or scores.size == 0:
        return labels
    ids = np.arange(1, scores.size + 1)
    keep = np.concatenate([[0], np.where(is_sure(scores, min_score), ids, 0)]).astype(labels.dtype)
    return keep[labels]


def clean(mask: np.ndarray, cfg: InstanceConfig) -> np.ndarray:
    mask = remove_small_holes(mask, max_size=cfg.max_hole) if cfg.max_hole else mask
    return mask


def components(mask: np.ndarray) -> np.ndarray:
    return sk_label(mask, connectivity=1).astype(np.int32)


def distance_markers(mask: np.ndarray, min_distance: int) -> np.ndarray:
    """Markers at the maxima of the distance transform, merged when closer than ``min_distance``."""
    from skimage.feature import peak_local_max
    dist = ndimage.distance_transform_edt(mask)
    dist = ndimage.gaussian_filter(dist, 1.0)  # one plateau per blob, not one per pixel
    peaks = peak_local_max(dist, min_distance=min_distance, labels=components(mask), exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return markers


def watershed_split(mask: np.ndarray, interior: np.ndarray | None, cfg: InstanceConfig,
                    distance: np.ndarray | None = None) -> np.ndarray:
    """Seeded watershed inside ``mask``; every foreground component keeps at least one object."""
    if distance is not None:
        if cfg.smooth > 0:
            distance = ndimage.gaussian_filter(distance, cfg.smooth)
        markers = relabel(components((distance >= cfg.distance_threshold) & mask), cfg.min_marker)
        relief = -distance
    elif interior is not None:
        if cfg.smooth > 0:
            interior = ndimage.gaussian_filter(interior, cfg.smooth)
        markers = relabel(components(interior >= cfg.marker_threshold), cfg.min_marker)
        relief = -interior
    else:
        markers = distance_markers(mask, cfg.min_distance)
        relief = -ndimage.distance_transform_edt(mask)
    return watershed(relief, seed_every_component(markers, mask), mask=mask).astype(np.int32)


def seed_every_component(markers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``markers`` inside ``mask``, plus one marker (the whole component) for every foreground component
    that has none: a component with no marker would vanish in the watershed."""
    markers = np.where(mask, markers, 0)
    comp = components(mask)
    missing = np.setdiff1d(np.unique(comp[mask]), np.unique(comp[markers > 0]))
    if missing.size:
        extra = np.isin(comp, missing)
        markers[extra] = comp[extra] + markers.max()
    return markers


def canny_contours(mask: np.ndarray) -> np.ndarray:
    """The seeds' counting: Canny on the mask, external contours, each filled as one object."""
    edges = cv2.Canny(mask.astype(np.uint8) * 255, 100, 200)
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    labels = np.zeros(mask.shape, np.int32)
    for i, c in enumerate(contours, start=1):
        cv2.drawContours(labels, [c], -1, i, thickness=cv2.FILLED)
    return labels


def relabel(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Drop objects under ``min_size`` px and renumber 1..N in raster order."""
    if min_size > 1 and labels.max() > 0:
        small = np.bincount(labels.ravel()) < min_size
        small[0] = False
        labels = np.where(small[labels], 0, labels)
    ids = np.unique(labels[labels > 0])
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[labels]


@dataclass
class Objects:
    """What ``objects_from_probs`` found: ``labels`` (int32, 0 = background, 1..N), ``scores`` (each object's,
    ``object_scores``: index k-1 for label k) and ``unsure`` (how many objects of at least ``min_size`` px were
    dropped for scoring under ``min_score``: count says so rather than drop them silently)."""
    labels: np.ndarray
    scores: np.ndarray
    unsure: int = 0


def objects_from_probs(probs: np.ndarray, cfg: InstanceConfig | None = None,
                       distance: np.ndarray | None = None) -> Objects:
    """Objects from a probability map and, for models with a distance head, its predicted distance to the
    border (seeds the watershed), with their scores."""
    cfg = cfg or InstanceConfig()
    if cfg.split not in METHODS:
        raise UnetkitError(f"unknown split method {cfg.split!r}: choose one of {', '.join(METHODS)}")
    mask, interior = foreground_and_interior(probs, cfg)
    mask = clean(mask, cfg)
    if cfg.split == "components":
        labels = components(mask)
    elif cfg.split == "canny":
        labels = canny_contours(mask)
    else:
        labels = watershed_split(mask, interior, cfg, distance)
    scores = score_map(probs, interior)
    unsure = 0
    if cfg.min_score > 0:   # objects the network is unsure of: specks, folds of pale cytoplasm (benchmarks 28)
        every = object_scores(labels, scores)
        sized = np.bincount(labels.ravel(), minlength=every.size + 1)[1:] >= cfg.min_size
        unsure = int((sized & ~is_sure(every, cfg.min_score)).sum())
        labels = drop_unsure(labels, every, cfg.min_score)
    labels = relabel(labels, cfg.min_size)
    return Objects(labels, object_scores(labels, scores), unsure)


def instances_from_probs(probs: np.ndarray, cfg: InstanceConfig | None = None,
                         distance: np.ndarray | None = None) -> np.ndarray:
    """Label image (int32, 0 = background, 1..N objects) of ``objects_from_probs``."""
    return objects_from_probs(probs, cfg, distance).labels


OBJECT_COLUMNS = ["id", "area", "perimeter", "centroid_y", "centroid_x", "bbox_y0", "bbox_x0", "bbox_y1", "bbox_x1",
                  "equivalent_diameter", "eccentricity", "solidity", "mean_intensity", "max_intensity", "score"]
# a row of NAME_objects.csv / objects.csv: where the object is (file, time point, z slice) and what it measures
TABLE_COLUMNS = ["file", "t", "z", *OBJECT_COLUMNS, "pixel_size_um"]


def measure(labels: np.ndarray, intensity: np.ndarray | None = None, pixel_size: float | None = None,
            scores: np.ndarray | None = None) -> list[dict]:
    """One row per object. Lengths in um and areas in um^2 when ``pixel_size`` (um/px) is
    given, else in px; intensities of the raw image (mean over channels for RGB); ``score`` from
    ``scores`` (``object_scores``: index k-1 for label k), the network's peak probability inside
    the object (0-1, what ``--min-score`` filters on), NaN without."""
    if intensity is not None and intensity.ndim == 3:
        intensity = intensity.astype(np.float32).mean(-1)
    s = pixel_size or 1.0
    rows = []
    for r in regionprops(labels, intensity_image=intensity):
        y0, x0, y1, x1 = r.bbox
        rows.append({
            "id": int(r.label), "area": float(r.area) * s * s, "perimeter": float(r.perimeter) * s,
            "centroid_y": float(r.centroid[0]) * s, "centroid_x": float(r.centroid[1]) * s,
            "bbox_y0": y0, "bbox_x0": x0, "bbox_y1": y1, "bbox_x1": x1,
            "equivalent_diameter": float(r.equivalent_diameter_area) * s,
            "eccentricity": float(r.eccentricity), "solidity": float(r.solidity),
            "mean_intensity": float(r.intensity_mean) if intensity is not None else float("nan"),
            "max_intensity": float(r.intensity_max) if intensity is not None else float("nan"),
            "score": float(scores[r.label - 1]) if scores is not None else float("nan"),
        })
    return rows
