"""Why objects went unmatched: each true object and each prediction left without a partner at one IoU
threshold, sorted into kinds that point at a setting of ``count`` (benchmarks 31).

A true object without a match is
- *merged* when the prediction covering most of it also covers at least half of another true object
  (touching objects came out as one: a higher ``--marker-threshold`` or less ``--smooth`` gives more seeds);
- *split* when two or more predictions lie mostly (>= 50 %) inside it (one object, several seeds: the opposite);
- *missed* when predictions cover under half of it (a lower ``--threshold`` or ``--min-score``, or a fine-tune);
- *shape* otherwise: found, but outlined too differently to reach the threshold.
A prediction without a match is a *fragment* when at least half of it lies on true objects (a piece of a split or
of a badly outlined object), else *false* (an object where the truth has none).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .matching import iou_from_overlap, match_indices, overlap_matrix, relabel_sequential


@dataclass
class ErrorKinds:
    merged: int = 0
    split: int = 0
    missed: int = 0
    shape: int = 0
    fragment: int = 0
    false: int = 0

    def __add__(self, other: "ErrorKinds") -> "ErrorKinds":
        return ErrorKinds(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"unmatched true objects: {self.merged} merged, {self.split} split, {self.missed} missed, "
                f"{self.shape} outlined differently; unmatched predictions: {self.fragment} on true objects, "
                f"{self.false} elsewhere")


def error_kinds(y_true: np.ndarray, y_pred: np.ndarray, thresh: float = 0.5) -> ErrorKinds:
    """The kinds of one image's errors at IoU ``thresh`` (the same one-to-one matching as ``matching``)."""
    overlap = overlap_matrix(relabel_sequential(y_true), relabel_sequential(y_pred))
    inter = overlap[1:, 1:]
    area_t, area_p = overlap.sum(1)[1:], overlap.sum(0)[1:]
    iou = iou_from_overlap(overlap)
    # ids are sequential, so every area is at least a pixel
    of_true = inter / area_t[:, None]     # share of each true object that each prediction covers
    of_pred = inter / area_p[None, :]     # share of each prediction that lies in each true object
    rows, cols = match_indices(iou, thresh)
    out = ErrorKinds()
    for i in np.setdiff1d(np.arange(len(area_t)), rows):
        if of_true[i].sum() < 0.5:
            out.missed += 1
        elif (of_true[:, of_true[i].argmax()] >= 0.5).sum() >= 2:
            out.merged += 1
        elif (of_pred[i] >= 0.5).sum() >= 2:
            out.split += 1
        else:
            out.shape += 1
    for j in np.setdiff1d(np.arange(len(area_p)), cols):
        if of_pred[:, j].sum() >= 0.5:
            out.fragment += 1
        else:
            out.false += 1
    return out
