"""Evaluate predicted masks against ground truth folders: per-image CSV, JSON summary, table."""
from __future__ import annotations

import csv
import io
import json
import sys

from pathlib import Path

import numpy as np

from .io import read_array, read_mask, write_text
from .data.prepare import prepare
from .data.pairs import list_images, mask_to_labels
from .errors import UnetkitError
from .metrics import ISBI_THRESHOLDS, evaluate_pair, v_rand_over_thresholds
from .progress import plural

PRED_TAG = "_mask"
TASKS = ("auto", "membranes", "regions", "classes")
ISIC_JACCARD = 0.65   # ISIC 2018 task 1: an image's Jaccard below 0.65 scores 0


def detect_task(truth: np.ndarray, num_classes: int) -> str:
    """What a set of masks segments, from its first mask: more than two classes are ``classes``;
    a binary mask whose foreground falls into many pieces (ISBI cells between membranes: hundreds)
    is ``membranes``, scored with the ISBI 2012 V_rand; one or a few blobs (a lesion, an organ)
    are ``regions``, scored by foreground IoU / Dice, where V_rand means nothing and costs minutes."""
    if num_classes > 2:
        return "classes"
    from scipy import ndimage
    _, pieces = ndimage.label(truth > 0)
    return "membranes" if pieces > 10 else "regions"


def pair_predictions(pred_dir, truth_dir) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """([(name, prediction, truth)] by stem, every ground truth's stem); prediction files may carry the ``_mask``
    tag."""
    if (Path(pred_dir) / "counts.csv").is_file():   # its overlays and label images are no masks to score
        raise UnetkitError(f"{pred_dir}: holds 'unetkit count' outputs; score its objects with "
                           "'unetkit evaluate --instances'")
    preds = {}
    for p in list_images(pred_dir, "prediction"):
        if p.stem.endswith(("_prob", "_overlay", "_labels")):
            continue
        preds[p.stem.removesuffix(PRED_TAG)] = p
    truths = {p.stem: p for p in list_images(truth_dir, "ground-truth mask")}
    common = sorted(set(preds) & set(truths))
    missing = sorted(set(preds) - set(truths))
    if missing:
        raise UnetkitError(f"{preds[missing[0]]}: no ground-truth mask named {missing[0]}.* in {truth_dir}; "
                           "add it or remove the prediction")
    if not common:
        raise UnetkitError(f"{pred_dir}: no prediction matches a mask in {truth_dir} by name")
    return [(n, preds[n], truths[n]) for n in common], list(truths)


def unscored(names, scored, folder, verbose: bool, what: str = "ground truths",
             lacking: str = "prediction") -> list[str]:
    """The ``names`` (stems in ``folder``) left out of the scores for want of their counterpart, said in one line:
    a prediction run that skipped a damaged image must not make the set look better without a word."""
    left = sorted(set(names) - set(scored))
    if left and verbose:
        print(f"[unetkit] {len(left)} of {len(set(names))} {what} in {folder} have no {lacking} and are not scored "
              f"(first: {left[0]}); the scores cover {plural(len(scored), 'image')}", file=sys.stderr, flush=True)
    return left


def evaluation_targets(out: Path, name: str, overwrite: bool) -> list[Path]:
    """``out/NAME.csv`` and ``out/NAME.json``, refused where an earlier evaluation holds them and ``overwrite`` is
    not given."""
    targets = [out / f"{name}.csv", out / f"{name}.json"]
    if not overwrite and any(t.exists() for t in targets):
        raise UnetkitError(f"{targets[0]}: an evaluation already exists here; pass --out DIR or --overwrite")
    return targets


def evaluate_folders(pred_dir, truth_dir, *, mask_mode: str = "binary", num_classes: int = 2,
                     out_dir=None, images_dir=None, grid_max: int = 6, overwrite: bool = False,
                     verbose: bool = True, task: str = "auto") -> dict:
    """Score every prediction; write ``evaluation.csv`` and ``evaluation.json`` into ``out_dir``,
    and with ``images_dir`` a ``grid.png`` of image / ground truth / prediction (first ``grid_max``)."""
    out = Path(out_dir or pred_dir)
    targets = evaluation_targets(out, "evaluation", overwrite)
    rows, grid, sweeps = [], [], []
    images = {p.stem: p for p in list_images(images_dir, "image")} if images_dir else {}
    if task not in TASKS:
        raise UnetkitError(f"--task {task}: choose one of {', '.join(TASKS)}")
    pairs, truths = pair_predictions(pred_dir, truth_dir)
    left = unscored(truths, [n for n, _, _ in pairs], truth_dir, verbose)
    for name, pred_path, truth_path in pairs:
        truth = mask_to_labels(read_mask(truth_path), mask_mode, truth_path, num_classes)
        if task == "auto":
            task = detect_task(truth, num_classes if mask_mode == "classes" else 2)
        pred = mask_to_labels(read_mask(pred_path), mask_mode, pred_path, num_classes)
        if truth.shape != pred.shape:
            raise UnetkitError(f"{pred_path}: prediction is {pred.shape[0]}x{pred.shape[1]} but the mask is "
                               f"{truth.shape[0]}x{truth.shape[1]}; predict at full resolution")
        if mask_mode == "instances":
            truth, pred = (truth > 0).astype(np.uint8), (pred > 0).astype(np.uint8)
        n = 2 if mask_mode in ("binary", "instances") else num_classes
        s = evaluate_pair(truth, pred, n, isbi=(n == 2 and task == "membranes"))
        row = {"file": name}
        if task == "regions":  # what a dermatology or organ user reads first
            row.update({"fg_iou": s.iou[1], "fg_dice": s.dice[1],
                        "isic_jaccard": s.iou[1] if s.iou[1] >= ISIC_JACCARD else 0.0})
        row.update({"accuracy": s.accuracy, "pixel_error": s.pixel_error, "mean_iou": s.mean_iou})
        for k in range(n):
            row[f"dice_{k}"] = s.dice[k]
            row[f"iou_{k}"] = s.iou[k]
        if s.v_rand is not None:
            row["v_rand"], row["rand_error"], row["v_rand_raw"] = s.v_rand, s.rand_error, s.v_rand_raw
        rows.append(row)
        if n == 2 and s.v_rand is not None:
            prob = _cell_probability(pred_dir, name, truth.shape)
            sweeps.append(None if prob is None else v_rand_over_thresholds(truth, prob))
        if name in images and len(grid) < grid_max:
            score = f"mIoU {s.mean_iou:.3f}" + (f", V_rand {s.v_rand:.3f}" if s.v_rand is not None else "")
            grid.append((name, prepare(read_array(images[name]), 3), truth, pred, score))
    keys = [k for k in rows[0] if k != "file"]
    summary = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    summary["images"] = len(rows)
    summary["unscored_truths"] = len(left)
    summary["task"] = task
    isbi = isbi_protocol(sweeps)
    if isbi:
        summary["v_rand_isbi"], summary["isbi_threshold"] = isbi["v_rand"], isbi["threshold"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text(targets[0], buf.getvalue())
    write_text(targets[1], json.dumps({"mean_over_images": summary, "per_image": rows,
                                       **({"isbi_protocol": isbi} if isbi else {})}, indent=1))
    if grid:
        from .viz import prediction_grid
        prediction_grid([g[:4] for g in grid], out / "grid.png", [g[4] for g in grid])
    if verbose:
        print(format_table(rows, summary))
        if isbi:
            print(f"V_rand, ISBI 2012 protocol (best over probability thresholds "
                  f"{ISBI_THRESHOLDS[0]}-{ISBI_THRESHOLDS[-1]}): {isbi['v_rand']:.4f} at threshold {isbi['threshold']}")
        print(f"[unetkit] wrote {targets[0]} and {targets[1]}" + (f" and {out / 'grid.png'}" if grid else ""))
    return summary


def _cell_probability(pred_dir, name: str, shape) -> np.ndarray | None:
    """The foreground probability map ``NAME_prob.tif|npy`` that ``unetkit predict`` wrote, if any."""
    for ext in (".tif", ".tiff", ".npy"):
        path = Path(pred_dir) / f"{name}_prob{ext}"
        if path.exists():
            prob = read_array(path).astype(np.float32)
            if prob.ndim == 3 and prob.shape[-1] > 1:  # per-class probabilities: foreground = not class 0
                prob = 1.0 - prob[..., 0]
            prob = np.squeeze(prob)
            if prob.shape != tuple(shape):
                raise UnetkitError(f"{path}: probability map is {prob.shape}, expected {tuple(shape)} "
                                   "(one foreground channel at the mask's size)")
            return prob
    return None


def isbi_protocol(sweeps: list) -> dict | None:
    """The ISBI 2012 challenge's V_rand: one threshold for the whole set, the one with the best
    mean V_rand. None unless every prediction came with its probability map."""
    if not sweeps or any(s is None for s in sweeps):
        return None
    mean = np.nanmean(np.asarray(sweeps, np.float64), axis=0)
    best = int(np.nanargmax(mean))
    return {"thresholds": list(ISBI_THRESHOLDS), "mean_v_rand": [float(v) for v in mean],
            "v_rand": float(mean[best]), "threshold": ISBI_THRESHOLDS[best]}


def format_table(rows: list[dict], summary: dict) -> str:
    keys = [k for k in rows[0] if k != "file"]
    width = max(len(r["file"]) for r in rows + [{"file": "mean"}])
    lines = ["  ".join([f"{'file':<{width}}"] + [f"{k:>10}" for k in keys])]
    for r in rows + [{"file": "mean", **summary}]:
        lines.append("  ".join([f"{r['file']:<{width}}"] + [f"{r[k]:>10.4f}" for k in keys]))
    if summary.get("task") == "regions":
        below = sum(r["fg_iou"] < 0.5 for r in rows)
        lines.append(f"regions: foreground IoU {summary['fg_iou']:.4f} (median "
                     f"{float(np.median([r['fg_iou'] for r in rows])):.4f}), Dice {summary['fg_dice']:.4f}, "
                     f"ISIC thresholded Jaccard {summary['isic_jaccard']:.4f}; {below} of {plural(len(rows), 'image')} "
                     "below IoU 0.5")
    return "\n".join(lines)


def _read_instances(path) -> np.ndarray:
    arr = read_mask(path)
    labels = mask_to_labels(arr, "instances", path)
    values = np.unique(labels)
    from .data.pairs import looks_binary
    if looks_binary(arr, values) and (labels > 0).mean() > 0:
        from .metrics import cells_of
        n = cells_of(labels).max()
        if n > 1:
            raise UnetkitError(f"{path}: looks like a binary mask ({n} separate objects share one id); "
                               "pass instance label images (0 = background, 1..N = objects)")
    return labels


def evaluate_instances(pred_dir, truth_dir, *, thresholds=None, out_dir=None, overwrite: bool = False,
                       verbose: bool = True) -> dict:
    """Object-level scores: matching at IoU thresholds, per image and pooled, and count errors."""
    from .error_kinds import ErrorKinds, error_kinds
    from .matching import THRESHOLDS, count_error, matching, matching_dataset
    thresholds = thresholds or THRESHOLDS
    out = Path(out_dir or pred_dir)
    targets = evaluation_targets(out, "instance_evaluation", overwrite)
    preds = {}
    for p in list_images(pred_dir, "prediction"):
        if p.stem.endswith("_labels") or not p.stem.endswith(("_prob", "_overlay", "_mask", "_count")):
            preds[p.stem.removesuffix("_labels")] = p
    truths = {p.stem: p for p in list_images(truth_dir, "ground-truth label")}
    names = sorted(set(preds) & set(truths))
    if not names:
        raise UnetkitError(f"{pred_dir}: no label image matches a ground truth in {truth_dir} by name "
                           "(expected NAME_labels.tif from 'unetkit count')")
    left = unscored(truths, names, truth_dir, verbose)
    unscored(preds, names, pred_dir, verbose, "label images", "ground truth")
    pairs, rows, counts, kinds = [], [], [], ErrorKinds()
    for name in names:
        t, p = _read_instances(truths[name]), _read_instances(preds[name])
        if t.shape != p.shape:
            raise UnetkitError(f"{preds[name]}: size {p.shape} differs from its ground truth {t.shape}")
        pairs.append((t, p))
        kinds = kinds + error_kinds(t, p, 0.5)
        for m in matching(t, p, thresholds):
            rows.append({"file": name, **m.as_dict()})
        n_true, n_pred = len(np.unique(t[t > 0])), len(np.unique(p[p > 0]))
        abs_err, rel_err = count_error(n_true, n_pred)
        counts.append({"file": name, "n_true": n_true, "n_pred": n_pred, "abs_error": abs_err, "rel_error": rel_err})
    pooled = [m.as_dict() for m in matching_dataset(pairs, thresholds)]
    rel = [c["rel_error"] for c in counts if np.isfinite(c["rel_error"])]
    summary = {
        "images": len(names), "unscored_truths": len(left), "pooled": pooled,
        "count": {"mean_abs_error": float(np.mean([c["abs_error"] for c in counts])),
                  "median_rel_error": float(np.median(rel)) if rel else float("nan"),
                  "mean_rel_error": float(np.mean(rel)) if rel else float("nan")},
        "errors_at_0.5": kinds.as_dict(),   # error_kinds.py: which setting to look at
    }
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text(targets[0], buf.getvalue())
    write_text(targets[1], json.dumps({**summary, "per_image_counts": counts}, indent=1))
    if verbose:
        print(f"{'IoU':>5} {'TP':>7} {'FP':>7} {'FN':>7} {'prec':>7} {'recall':>7} {'F1':>7} {'acc':>7} {'PQ':>7}")
        for m in pooled:
            print(f"{m['thresh']:>5.2f} {m['tp']:>7} {m['fp']:>7} {m['fn']:>7} {m['precision']:>7.3f} "
                  f"{m['recall']:>7.3f} {m['f1']:>7.3f} {m['accuracy']:>7.3f} {m['panoptic_quality']:>7.3f}")
        c = summary["count"]
        print(f"count error: mean absolute {c['mean_abs_error']:.2f} objects, median relative "
              f"{100 * c['median_rel_error']:.1f}% over {plural(len(names), 'image')}")
        print(f"errors at IoU 0.5, {kinds.describe()}")
        print(f"[unetkit] wrote {targets[0]} and {targets[1]}")
    return summary
