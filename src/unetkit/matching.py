"""Instance matching: one-to-one (Hungarian) at IoU thresholds, as StarDist's ``matching``.

Small pure functions and one entry point per use: ``matching`` for one image,
``matching_dataset`` pooled over images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy import sparse

THRESHOLDS = tuple(np.round(np.arange(0.5, 1.0, 0.05), 2))


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    out = inv.reshape(labels.shape)
    return out if labels.min() == 0 else out + 1


def overlap_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pixels shared by every true label (rows) and predicted label (columns), background (0) included."""
    t = y_true.ravel().astype(np.int64)
    p = y_pred.ravel().astype(np.int64)
    nt, np_ = int(t.max()), int(p.max())
    return sparse.coo_matrix((np.ones(t.size), (t, p)), shape=(nt + 1, np_ + 1)).toarray()


def iou_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """IoU between every true object (rows) and predicted object (columns); ids 1..N."""
    return iou_from_overlap(overlap_matrix(y_true, y_pred))


def iou_from_overlap(overlap: np.ndarray) -> np.ndarray:
    """``iou_matrix`` from an ``overlap_matrix`` (for callers that need the overlaps too)."""
    area_t = overlap.sum(1, keepdims=True)
    area_p = overlap.sum(0, keepdims=True)
    union = area_t + area_p - overlap
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, overlap / union, 0.0)
    return iou[1:, 1:]


@dataclass
class Matching:
    thresh: float
    n_true: int
    n_pred: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    accuracy: float            # TP / (TP + FP + FN)
    mean_matched_iou: float
    panoptic_quality: float    # sum of matched IoU / (TP + FP/2 + FN/2)

    def as_dict(self) -> dict:
        return asdict(self)


def _ratio(a, b):
    return float(a / b) if b > 0 else float("nan")


def match_indices(iou: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """(true rows, predicted columns) of the optimal one-to-one matches with IoU >= thresh (strictly > 0)."""
    if iou.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    rows, cols = linear_sum_assignment(np.where(iou >= thresh, -iou, 0.0))
    keep = (iou[rows, cols] >= thresh) & (iou[rows, cols] > 0)
    return rows[keep], cols[keep]


def match_pairs(iou: np.ndarray, thresh: float) -> np.ndarray:
    """IoU values of the optimal one-to-one matches with IoU >= thresh (strictly > 0)."""
    return iou[match_indices(iou, thresh)]


def scores(thresh: float, n_true: int, n_pred: int, matched_ious: np.ndarray) -> Matching:
    tp = int(matched_ious.size)
    fp, fn = n_pred - tp, n_true - tp
    sum_iou = float(matched_ious.sum())
    return Matching(thresh, n_true, n_pred, tp, fp, fn, _ratio(tp, tp + fp), _ratio(tp, tp + fn),
                    _ratio(2 * tp, 2 * tp + fp + fn), _ratio(tp, tp + fp + fn), _ratio(sum_iou, tp),
                    _ratio(sum_iou, tp + fp / 2 + fn / 2))


def matched_ious(y_true: np.ndarray, y_pred: np.ndarray, thresholds):
    """(n_true, n_pred, [matched IoUs per threshold]) of one image."""
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label images differ in shape: {y_true.shape} vs {y_pred.shape}")
    iou = iou_matrix(relabel_sequential(y_true), relabel_sequential(y_pred))
    return iou.shape[0], iou.shape[1], [match_pairs(iou, t) for t in thresholds]


def matching(y_true: np.ndarray, y_pred: np.ndarray, thresholds=THRESHOLDS) -> list[Matching]:
    """Scores of one image at each IoU threshold."""
    n_true, n_pred, matched = matched_ious(y_true, y_pred, thresholds)
    return [scores(float(t), n_true, n_pred, m) for t, m in zip(thresholds, matched)]


def matching_dataset(pairs, thresholds=THRESHOLDS) -> list[Matching]:
    """Pooled over images: objects and matches of all images counted together before the ratios."""
    return pooled([matched_ious(t, p, thresholds) for t, p in pairs], thresholds)


def pooled(per, thresholds=THRESHOLDS) -> list[Matching]:
    """``matching_dataset`` from each image's ``matched_ious`` (computed once, scored many ways)."""
    n_true = sum(n for n, _, _ in per)
    n_pred = sum(n for _, n, _ in per)
    return [scores(float(t), n_true, n_pred, np.concatenate([m[k] for _, _, m in per] or [np.zeros(0)]))
            for k, t in enumerate(thresholds)]


def count_error(n_true: int, n_pred: int) -> tuple[int, float]:
    """(absolute, relative) count error; relative is |pred - true| / true (nan when true = 0)."""
    err = abs(n_pred - n_true)
    return err, _ratio(err, n_true)
