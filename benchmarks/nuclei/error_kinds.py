"""Count a prediction's errors by kind, pooled over images (benchmarks 31).

A true object without a match at IoU 0.5 is *merged* when the predicted object covering most of it also covers at
least half of another true object, *split* when two or more predicted objects lie mostly (>= 50 %) inside it,
*missed* when under half of it is covered by predicted objects, else *shape* (found, outlined too differently). An
unmatched predicted object is a *fragment* when at least half of it lies on true objects, else *false*.

Usage: python benchmarks/nuclei/error_kinds.py COUNT_DIR TRUTH_DIR
COUNT_DIR: `unetkit count`'s output (STEM_labels.tif); TRUTH_DIR: STEM.png instance masks.
"""
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from unetkit.io import read_array


def kinds(truth: np.ndarray, pred: np.ndarray) -> Counter:
    nt, npd = int(truth.max()) + 1, int(pred.max()) + 1
    both = np.bincount(truth.ravel() * npd + pred.ravel(), minlength=nt * npd).reshape(nt, npd)
    inter = both[1:, 1:].astype(np.float64)
    area_t, area_p = both.sum(1)[1:], both.sum(0)[1:]
    iou = inter / np.maximum(area_t[:, None] + area_p[None, :] - inter, 1)
    of_true = inter / np.maximum(area_t[:, None], 1)    # share of each true object a prediction covers
    of_pred = inter / np.maximum(area_p[None, :], 1)    # share of each prediction inside a true object
    out = Counter()
    for i in np.flatnonzero(iou.max(1, initial=0) < 0.5):
        if of_true[i].sum() < 0.5:
            out["missed"] += 1
        elif (of_true[:, of_true[i].argmax()] >= 0.5).sum() >= 2:
            out["merged"] += 1
        elif (of_pred[i] >= 0.5).sum() >= 2:
            out["split"] += 1
        else:
            out["shape"] += 1
    for j in np.flatnonzero(iou.max(0, initial=0) < 0.5):
        out["fragment" if of_pred[:, j].sum() >= 0.5 else "false"] += 1
    return out


def main(count_dir: Path, truth_dir: Path) -> Counter:
    total = Counter()
    for t in sorted(truth_dir.glob("*.png")):
        truth = read_array(t)
        total += kinds((truth[..., 0] if truth.ndim == 3 else truth).astype(np.int64),
                       read_array(count_dir / f"{t.stem}_labels.tif").astype(np.int64))
    return total


if __name__ == "__main__":
    got = main(Path(sys.argv[1]), Path(sys.argv[2]))
    print(", ".join(f"{k} {got[k]}" for k in ("merged", "missed", "shape", "split", "fragment", "false")))
