"""Other ways to turn the bundled model's predictions into objects, scored without predicting again.

``cache`` runs what ``count`` runs on each annotated image (its size search, flip TTA, float32) and keeps
the prediction at the scale it chose (NAME.npz, float16); with ``--views`` also the transposed image
(with flips: the eight-fold dihedral TTA together) and the image at 0.8x and 1.25x that scale, resized
to the chosen scale's grid (NAME.views.npz). ``replay`` labels the cached predictions with each variant
(a JSON object; {} is count's own labelling) and prints pooled F1 at IoU 0.5 and 0.75 and the median
count error, overall and by the chosen scale (shrunk, as is, enlarged), or with ``--images`` by appearance.
benchmarks/README.md, 21 and 28.

Variant keys: ``threshold`` (foreground), ``marker_threshold`` (seed), ``smooth`` (px), ``seeds``:
``threshold`` (count's) or ``hmax`` with ``h`` (seeds at the interior's h-maxima, so two nuclei whose
interiors dip by h between them get two seeds), ``views``: list of cached views averaged with the
prediction, ``native``: label at the image's own resolution (probabilities resized, count's pixel settings
scaled as the block path does) instead of resizing the labels, ``min_score`` (count's: drop objects whose
peak interior probability is under it), ``mean_score`` (with ``of``: interior or foreground): the same with
the object's mean probability, ``concave``: [solidity, h] splits objects
of lower solidity at the h-maxima of their distance transform.

    python benchmarks/nuclei/count_variants.py cache MODEL IMAGES MASKS CACHE [--views]
    python benchmarks/nuclei/count_variants.py replay CACHE '{}' '{"marker_threshold": 0.8}' ... [--images DIR]
    python benchmarks/nuclei/count_variants.py reliability CACHE [CACHE ...]    # what an object's score means
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage.measure import regionprops
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from unetkit.config import COUNT_TTA, PredictConfig
from unetkit.diameter import to_shape
from unetkit.instances import (clean, components, drop_unsure, foreground_and_interior, instance_settings,
                               instances_from_probs, relabel, seed_every_component)


def cache(model, images, masks, out: Path, views: bool) -> None:
    from unetkit.data.pairs import load_pair, pair_folders
    from unetkit.diameter import choose_scale
    from unetkit.io import open_image
    from unetkit.planes import AxisChoice, select
    from unetkit.prediction import load_plane
    from unetkit.predictor import Predictor
    predictor = Predictor.load(model, PredictConfig(tta=COUNT_TTA))
    icfg = instance_settings(predictor.meta)
    out.mkdir(parents=True, exist_ok=True)
    for p in pair_folders(images, masks):
        stem = p.image.name.split(".")[0]
        _, truth = load_pair(p, "instances")
        _, x, _ = load_plane(predictor, select(open_image(p.image), predictor.channels, AxisChoice()), p.image)
        _, info, (probs, _) = choose_scale(predictor, x, icfg)
        scale = info["scale"]
        np.savez_compressed(out / f"{stem}.npz", probs=probs.astype(np.float16), scale=scale,
                            shape=np.array(x.shape[:2]), truth=truth)
        if views:
            grid = probs.shape[1], probs.shape[0]
            extra = {"transposed": np.swapaxes(predictor.probabilities(np.ascontiguousarray(np.swapaxes(x, 0, 1)),
                                                                       scale=scale, map_back=False), 0, 1)}
            for f in (0.8, 1.25):
                extra[f"x{f}"] = cv2.resize(predictor.probabilities(x, scale=scale * f, map_back=False), grid,
                                            interpolation=cv2.INTER_LINEAR)
            np.savez_compressed(out / f"{stem}.views.npz", **{k: v.astype(np.float16) for k, v in extra.items()})
        print(f"{p.image.name}: scale {scale:g}", flush=True)


def hmax_split(mask, interior, icfg, h):
    relief = ndimage.gaussian_filter(interior, icfg.smooth) if icfg.smooth else interior
    markers = components(h_maxima(relief.astype(np.float64), h) & mask & (relief >= 0.3))
    return watershed(-relief, seed_every_component(markers, mask), mask=mask).astype(np.int32)


def concave_split(labels, solidity, h):
    out, nxt = labels.copy(), labels.max() + 1
    for r in regionprops(labels):
        if r.solidity >= solidity or r.area < 30:
            continue
        m = np.pad(r.image, 1)
        d = ndimage.distance_transform_edt(m)
        peaks, n = ndimage.label(h_maxima(d, h) & m)
        if n < 2:
            continue
        parts = watershed(-d, peaks, mask=m)[1:-1, 1:-1]
        sub = out[r.bbox[0]:r.bbox[2], r.bbox[1]:r.bbox[3]]
        for k in range(2, n + 1):
            sub[(parts == k) & r.image] = nxt
            nxt += 1
    return out


def label(probs, shape, scale, icfg, v):
    if v.get("native") and probs.shape[:2] != tuple(shape):
        from unetkit.diameter import native_settings
        probs = cv2.resize(probs, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
        icfg = native_settings(icfg, scale)
    if v.get("seeds") == "hmax":
        mask, interior = foreground_and_interior(probs, icfg)
        labels = relabel(hmax_split(clean(mask, icfg), interior, icfg, v["h"]), icfg.min_size)
    else:
        labels = instances_from_probs(probs, icfg)
    if v.get("mean_score"):
        labels = drop_by_mean(labels, probs, v["mean_score"], v.get("of", "interior"))
    labels = to_shape(labels, shape)
    return concave_split(labels, *v["concave"]) if v.get("concave") else labels


def drop_by_mean(labels, probs, min_mean, of):
    """Drop objects whose mean interior (or foreground) probability is under min_mean: the mean where count's
    ``min_score`` takes the peak (benchmarks/README.md 28 compares them)."""
    p = probs[..., 1] if of == "interior" else probs[..., 1] + probs[..., 2]
    n = labels.max()
    if n == 0:
        return labels
    return relabel(drop_unsure(labels, np.asarray(ndimage.mean(p, labels, np.arange(1, n + 1))), min_mean), 0)


def appearances(images) -> dict[str, str]:
    """Each image's appearance group (fluorescence-like, H&E-like, brightfield-like; by_appearance.py)."""
    from unetkit.data.sampling import appearance
    from unetkit.io import read_array
    return {p.name.split(".")[0]: appearance(read_array(p)) for p in sorted(Path(images).iterdir())}


def replay(folder: Path, variants: list[dict], model, images=None) -> None:
    from unetkit.checkpoint import read_meta, resolve_model_path
    from unetkit.matching import matched_ious, pooled
    base = instance_settings(read_meta(resolve_model_path(model)))
    keys = ("threshold", "marker_threshold", "smooth", "min_score")
    scored = [[] for _ in variants]
    errors = [[] for _ in variants]
    groups, looks = [], appearances(images) if images else {}
    for f in sorted(p for p in folder.glob("*.npz") if not p.name.endswith(".views.npz")):
        z = np.load(f)
        probs, truth, scale = z["probs"].astype(np.float32), z["truth"], float(z["scale"])
        view_file = f.with_name(f.name.replace(".npz", ".views.npz"))
        views = dict(np.load(view_file)) if view_file.exists() else {}
        groups.append(looks.get(f.stem) or ("shrunk" if scale < 0.99 else "enlarged" if scale > 1.01 else "as is"))
        n_true = len(np.unique(truth)) - 1
        for i, v in enumerate(variants):
            p = np.mean([probs, *(views[k].astype(np.float32) for k in v.get("views", []))], axis=0)
            labels = label(p, z["shape"], scale, replace(base, **{k: v[k] for k in keys if k in v}), v)
            scored[i].append(matched_ious(truth, labels, (0.5, 0.75)))
            errors[i].append(abs(len(np.unique(labels)) - 1 - n_true) / max(n_true, 1))
    for i, v in enumerate(variants):
        f1 = pooled(scored[i], (0.5, 0.75))
        parts = []
        for g in sorted(set(groups)):
            idx = [k for k, gg in enumerate(groups) if gg == g]
            q = pooled([scored[i][k] for k in idx], (0.5, 0.75))
            err = 100 * np.median([errors[i][k] for k in idx])
            parts.append(f"{g} ({len(idx)}) {q[0].f1:.3f} / {q[1].f1:.3f} / {err:.1f} %")
        print(f"{json.dumps(v):42s} F1 {f1[0].f1:.4f} / {f1[1].f1:.4f}, count error {100 * np.median(errors[i]):.1f} %"
              f"  | {'; '.join(parts)}", flush=True)


def reliability(folders: list[Path], model, edges=(0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)) -> None:
    """How often an object of each score matches a true nucleus (IoU >= 0.5, one-to-one), every object kept
    (``min_score`` 0): what the ``score`` column of count's tables means, set by set."""
    from scipy.optimize import linear_sum_assignment
    from unetkit.checkpoint import read_meta, resolve_model_path
    from unetkit.diameter import labels_from
    from unetkit.matching import iou_matrix, relabel_sequential
    base = replace(instance_settings(read_meta(resolve_model_path(model))), min_score=0)
    print("set | " + " | ".join(f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])) + "  (matched fraction, objects)")
    for folder in folders:
        scores, matched = [], []
        for f in sorted(p for p in folder.glob("*.npz") if not p.name.endswith(".views.npz")):
            z = np.load(f)
            found, _ = labels_from(z["probs"].astype(np.float32), None, z["shape"], float(z["scale"]), base)
            labels, s = found.labels, found.scores
            iou = iou_matrix(relabel_sequential(z["truth"]), labels)
            hit = np.zeros(len(s), bool)
            if iou.size:
                rows, cols = linear_sum_assignment(np.where(iou >= 0.5, -iou, 0.0))
                hit[cols[iou[rows, cols] >= 0.5]] = True
            scores.append(s)
            matched.append(hit)
        s, m = np.concatenate(scores), np.concatenate(matched)
        cells = []
        for i, (a, b) in enumerate(zip(edges, edges[1:])):
            k = (s >= a) & ((s < b) if i < len(edges) - 2 else (s <= b))
            cells.append(f"{m[k].mean():.2f} ({k.sum()})" if k.any() else "-")
        print(f"{folder.name} | " + " | ".join(cells), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("model"); c.add_argument("images"); c.add_argument("masks"); c.add_argument("out")
    c.add_argument("--views", action="store_true")
    r = sub.add_parser("replay")
    r.add_argument("cache"); r.add_argument("variants", nargs="+")
    r.add_argument("--model", default="nuclei", help="whose stored count settings are the base (default nuclei)")
    r.add_argument("--images", help="the cached images' folder: scores by appearance instead of by scale")
    s = sub.add_parser("reliability")
    s.add_argument("caches", nargs="+")
    s.add_argument("--model", default="nuclei")
    a = ap.parse_args(argv)
    if a.cmd == "reliability":
        reliability([Path(c) for c in a.caches], a.model)
    elif a.cmd == "cache":
        cache(a.model, a.images, a.masks, Path(a.out), a.views)
    else:
        replay(Path(a.cache), [json.loads(v) for v in a.variants], a.model, a.images)


if __name__ == "__main__":
    main()
