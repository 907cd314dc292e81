"""Instance settings chosen on annotated images (StarDist's ``optimize_thresholds``).

``calibrate(model, images, masks)`` predicts every image once, at the scale ``count``
would use (diameter estimation included), then labels the same predictions with every
setting of a small grid: the foreground threshold and the seed threshold of the model's
watershed (the distance head's for models that have one, the interior probability's for
boundary models, the peak distance for binary ones), and the score an object must reach
(``min_score``: its highest interior probability; dropping objects needs no new watershed
and no new IoU matrix, only a new one-to-one matching on fewer columns). A setting is scored by F1 pooled over
the images, averaged at IoU 0.5 and 0.75 (finding objects and outlining them both count), or
with ``criterion="count"`` by F1 at IoU 0.5 among the settings that count no worse than the
model's own (median relative count error); ties keep the default. The table gives each
setting's F1 and median count error.
``write_calibrated`` stores the winner in a copy of the model, where
``count`` takes it as its defaults (options given on the command line still win).

Memory: one image's probabilities at a time, plus the grid's label images of that image.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .config import COUNT_TTA, InstanceConfig, PredictConfig
from .errors import UnetkitError

GRID = {
    "threshold": (0.3, 0.4, 0.5, 0.6),
    "marker_threshold": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),  # boundary models: interior probability of a seed
    # (up to 0.8: the GPU-trained nuclei model's best was 0.6, then the edge; 0.7 won beyond it, benchmarks 19)
    "distance_threshold": (0.3, 0.4, 0.5, 0.6, 0.7),   # distance-head models: predicted distance of a seed
    "min_distance": (2, 4, 6, 8),                      # binary models: px between distance-transform peaks
    "min_score": (0.0, 0.5, 0.6, 0.7, 0.8),            # an object's highest interior probability (0 = keep all)
}
IOUS = (0.5, 0.75)
# what a setting is chosen by: f1 = mean pooled F1 at IoU 0.5 and 0.75 (finding objects and outlining them);
# count = the highest F1 at IoU 0.5 among settings whose median count error is no worse than the model's own
# settings' (how the bundled nuclei model's object score was chosen, benchmarks/README.md 28)
CRITERIA = ("f1", "count")   # the first is the default (the CLI reads it from here)


@dataclass
class Calibration:
    settings: dict          # the chosen values of the grid's keys
    score: float            # mean pooled F1 at IoU 0.5 and 0.75 with them
    default_score: float    # the same with the model's settings before calibration
    f1: dict                # {"0.5": .., "0.75": ..} with the chosen settings
    images: int
    table: list             # every setting tried: {**setting, "f1_0.5", "f1_0.75", "score", "count_error"}
    criterion: str = CRITERIA[0]   # what chose them


def grid_for(predictor, icfg: InstanceConfig) -> dict:
    """The grid's axes for this model: the foreground threshold and its kind of seed."""
    from .instances import distance_seeds
    if distance_seeds(predictor.meta, icfg):
        seed = "distance_threshold"
    elif int(predictor.meta.get("num_classes", 1)) == 3:
        seed = "marker_threshold"
    else:
        seed = "min_distance"
    return {"threshold": GRID["threshold"], seed: GRID[seed], "min_score": GRID["min_score"]}


def calibrate(model, images_dir, masks_dir, *, base: InstanceConfig | None = None, criterion: str = CRITERIA[0],
              verbose: bool = True) -> Calibration:
    """Search the grid on annotated images (instance label masks, paired by file stem); ``criterion``: CRITERIA."""
    from .data.pairs import load_pair, pair_folders
    from .diameter import choose_scale, objects_to_shape
    from .instances import distance_seeds, instance_settings, is_sure, objects_from_probs
    from .io import open_image
    from .matching import count_error, iou_matrix, match_pairs, pooled, relabel_sequential
    from .planes import AxisChoice, select
    from .prediction import load_plane
    from .predictor import Predictor
    from .progress import Progress

    if criterion not in CRITERIA:
        raise UnetkitError(f"--criterion {criterion}: choose one of {', '.join(CRITERIA)}")
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, PredictConfig(tta=COUNT_TTA))
    icfg = base or instance_settings(predictor.meta)
    if distance_seeds(predictor.meta, icfg):
        predictor = replace(predictor, heads="all")
    if icfg.split != "watershed":
        raise UnetkitError(f"calibration tunes the watershed; --split {icfg.split} has nothing to tune")
    pairs = pair_folders(images_dir, masks_dir)
    grid = grid_for(predictor, icfg)
    keys = list(grid)
    settings = [dict(zip(keys, values)) for values in itertools.product(*grid.values())]
    default = {k: getattr(icfg, k) for k in keys}
    if default not in settings:
        settings.append(default)
    matched: list[list] = [[] for _ in settings]
    errors: list[list] = [[] for _ in settings]   # relative count error per image
    bar = Progress(len(pairs), "images", enabled=verbose)
    for p in pairs:
        _, truth = load_pair(p, "instances")
        sel = select(open_image(p.image), predictor.channels, AxisChoice())
        _, x, _ = load_plane(predictor, sel, p.image)
        _, info, (probs, distance) = choose_scale(predictor, x, icfg)   # count's scale and its prediction
        true_ids = relabel_sequential(truth)
        current: dict = {}   # one watershed and one IoU matrix per (threshold, seed); each min_score only drops
        for i, s in enumerate(settings):  # columns from it. Scored at once: only this image's labels are held
            watershed_key = tuple(v for k, v in s.items() if k != "min_score")
            if watershed_key not in current:
                found = objects_from_probs(probs, replace(icfg, **{**s, "min_score": 0.0}), distance)
                native = objects_to_shape(found, x.shape[:2])   # as count maps them back, scores kept
                current = {watershed_key: (iou_matrix(true_ids, native.labels), native.scores)}
            iou, peaks = current[watershed_key]
            kept = is_sure(peaks, s["min_score"])   # as count drops objects
            matched[i].append((iou.shape[0], int(kept.sum()), [match_pairs(iou[:, kept], t) for t in IOUS]))
            errors[i].append(count_error(iou.shape[0], int(kept.sum()))[1])
        bar.step(f"{p.image.name}: {len(settings)} settings at scale {info['scale']:.2f}")
    table = []
    for s, parts, err in zip(settings, matched, errors):
        f1 = [float(np.nan_to_num(m.f1)) for m in pooled(parts, IOUS)]   # no objects at all: F1 0
        err = [e for e in err if np.isfinite(e)]   # images without objects have no relative error
        table.append({**s, "f1_0.5": f1[0], "f1_0.75": f1[1], "score": float(np.mean(f1)),
                      "count_error": float(np.median(err)) if err else float("nan")})
    default_row = next(r for r in table if all(r[k] == default[k] for k in keys))
    best = choose(table, default_row, keys, criterion)
    edge = [k for k in keys if len(grid[k]) > 1 and best[k] in (min(grid[k]), max(grid[k]))]   # best may lie beyond
    bar.close(f"best {', '.join(f'{k} {best[k]}' for k in keys)}: F1 {best['f1_0.5']:.3f} at IoU 0.5, "
              f"{best['f1_0.75']:.3f} at 0.75, median count error {100 * best['count_error']:.1f} % (default "
              f"{default_row['f1_0.5']:.3f} / {default_row['f1_0.75']:.3f} / {100 * default_row['count_error']:.1f} %)"
              + (f"; {', '.join(edge)} at the edge of the grid searched" if edge else ""))
    return Calibration({k: best[k] for k in keys}, best["score"], default_row["score"],
                       {"0.5": best["f1_0.5"], "0.75": best["f1_0.75"]}, len(pairs), table, criterion)


def choose(table: list, default_row: dict, keys: list, criterion: str) -> dict:
    """The table's best row by ``criterion`` (CRITERIA); ties keep the model's own settings."""
    is_default = lambda r: all(r[k] == default_row[k] for k in keys)   # noqa: E731
    if criterion == "f1":
        return max(table, key=lambda r: (r["score"], is_default(r)))
    ceiling = default_row["count_error"]   # NaN (no image with objects): no count to keep, F1 alone decides
    rows = [r for r in table if not r["count_error"] > ceiling] if np.isfinite(ceiling) else table
    return max(rows, key=lambda r: (r["f1_0.5"], is_default(r)))


def check_out(model, out_path) -> Path:
    """The model ``model`` (spec or path) resolves to, once ``out_path`` is known to be a name the calibrated copy
    can take: checked before the search, which predicts every image (minutes), not after it."""
    from .checkpoint import resolve_model_path
    src = resolve_model_path(model)
    out = Path(out_path)
    if out.suffix != ".keras":
        raise UnetkitError(f"{out}: the calibrated model is a .keras file; name it NAME.keras")
    if out.resolve() == src.resolve():
        raise UnetkitError(f"{out}: would overwrite the model being calibrated; write the copy elsewhere")
    return src


def write_calibrated(model, calibration: Calibration, out_path) -> Path:
    """A copy of ``model`` (spec or path) whose count defaults are the calibrated settings."""
    from .checkpoint import read_meta, rewrite_meta
    src, out = check_out(model, out_path), Path(out_path)
    meta = read_meta(src)
    meta["instances"] = {**(meta.get("instances") or {}), **calibration.settings,
                         "calibrated_on": calibration.images, "score": round(calibration.score, 4),
                         "criterion": calibration.criterion}
    return rewrite_meta(src, out, meta)

