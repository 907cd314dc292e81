"""Evaluation metrics, pure NumPy: small functions, one entry point per family.

Pixel metrics come from one confusion matrix. The ISBI 2012 measures follow the
challenge: cells are the 4-connected components of the foreground, and the
foreground-restricted Rand F-score V_rand ignores ground-truth background (membrane)
pixels (same definition as ``skimage.metrics.adapted_rand_error``). As on the challenge's
current leaderboard, the predicted borders are thinned first (``thinned_cells``); the
score without thinning is reported too, as ``v_rand_raw``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import sparse


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix C[t, p] of pixel counts."""
    t = truth.ravel().astype(np.int64)
    p = pred.ravel().astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


@dataclass
class PixelScores:
    accuracy: float
    dice: list[float]   # per class; nan where the class is absent from truth and prediction
    iou: list[float]
    mean_iou: float     # over classes present in truth or prediction


def foreground_iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two boolean masks; 1 when both are empty (nothing to find, nothing found)."""
    union = np.logical_or(mask, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(mask, truth).sum() / union)


def pixel_scores(conf: np.ndarray) -> PixelScores:
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(0) - tp
    fn = conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
    return PixelScores(float(tp.sum() / max(conf.sum(), 1)), dice.tolist(), iou.tolist(), float(np.nanmean(iou)))


@dataclass
class RandScores:
    v_rand: float        # foreground-restricted Rand F-score (higher is better)
    precision: float     # as skimage: pairs together in both / pairs together in truth (falls with splits)
    recall: float        # pairs together in both / pairs together in prediction (falls with merges)
    rand_error: float    # 1 - v_rand (the adapted Rand error)


def rand_scores(seg_true: np.ndarray, seg_pred: np.ndarray) -> RandScores:
    """Adapted Rand scores of two label images; label 0 of ``seg_true`` is ignored."""
    t = seg_true.ravel().astype(np.int64)
    p = seg_pred.ravel().astype(np.int64)
    keep = t != 0
    t, p = t[keep], p[keep]
    if t.size == 0:
        return RandScores(float("nan"), float("nan"), float("nan"), float("nan"))
    _, t = np.unique(t, return_inverse=True)
    _, p = np.unique(p, return_inverse=True)
    n = t.size
    cont = sparse.coo_matrix((np.ones(n), (t, p))).tocsr()
    # pairs of pixels (not counting a pixel with itself) that share a segment
    same_both = float(cont.data @ cont.data) - n
    a = np.asarray(cont.sum(1)).ravel()  # true segment sizes
    b = np.asarray(cont.sum(0)).ravel()  # predicted segment sizes
    same_true, same_pred = float(a @ a) - n, float(b @ b) - n
    if same_true == 0 or same_pred == 0:
        return RandScores(float("nan"), float("nan"), float("nan"), float("nan"))
    prec, rec = same_both / same_true, same_both / same_pred
    f = 2 * same_both / (same_true + same_pred)
    return RandScores(f, prec, rec, 1.0 - f)


def cells_of(binary: np.ndarray) -> np.ndarray:
    """Connected components (4-connected) of the foreground: the ISBI 2012 'cells'."""
    labels, _ = ndimage.label(binary > 0)
    return labels


def thinned_cells(binary: np.ndarray) -> np.ndarray:
    """Cells of a predicted mask after border thinning, as the ISBI 2012 leaderboard scores them:
    predicted boundary pixels are given to the nearest cell, except one-pixel lines where two
    cells meet, so the score no longer depends on how thick the predicted membranes are."""
    from skimage.segmentation import watershed
    cells = cells_of(binary)
    if cells.max() == 0:
        return cells
    return watershed(ndimage.distance_transform_edt(cells == 0), cells, watershed_line=True)


# The ISBI 2012 evaluation script (Fiji) binarises each probability map at thresholds 0.0 to 1.0 in
# steps of 0.1 and reports the best V_rand; 0.0 and 1.0 give all-cell / all-membrane, so we skip them.
ISBI_THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 10))


def v_rand_over_thresholds(truth: np.ndarray, cell_prob: np.ndarray,
                           thresholds=ISBI_THRESHOLDS) -> list[float]:
    """V_rand (after thinning) of ``cell_prob > t`` for each threshold t."""
    truth_cells = cells_of(truth)
    return [rand_scores(truth_cells, thinned_cells(cell_prob > t)).v_rand for t in thresholds]


@dataclass
class ImageScores:
    accuracy: float
    dice: list[float]
    iou: list[float]
    mean_iou: float
    pixel_error: float
    v_rand: float | None       # after border thinning (the ISBI 2012 leaderboard's V_rand)
    rand_error: float | None   # 1 - v_rand
    v_rand_raw: float | None   # without thinning: predicted boundary pixels form one segment


def evaluate_pair(truth: np.ndarray, pred: np.ndarray, num_classes: int = 2, isbi: bool = True) -> ImageScores:
    """All pixel metrics for one image, plus the ISBI measures for binary masks."""
    conf = confusion(truth, pred, num_classes)
    px = pixel_scores(conf)
    v = err = raw = None
    if isbi and num_classes == 2:
        truth_cells = cells_of(truth)
        r = rand_scores(truth_cells, thinned_cells(pred))
        v, err = r.v_rand, r.rand_error
        raw = rand_scores(truth_cells, cells_of(pred)).v_rand
    return ImageScores(px.accuracy, px.dice, px.iou, px.mean_iou, 1.0 - px.accuracy, v, err, raw)
