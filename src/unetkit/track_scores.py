"""How well a time lapse's objects were followed, against a truth whose ids are tracks (one id through the frames,
as the Cell Tracking Challenge's TRA ground truth has them): ``unetkit evaluate --tracks``.

Each frame's objects are matched one to one at IoU >= 0.5 (``matching.match_indices``, as ``evaluate --instances``
matches them). Then, over the movie:
  detections   matched objects over all frames: precision, recall, F1;
  links        a true link is two consecutive appearances of a true track (one missed frame between them or
               none); it is kept when both ends are matched to one and the same predicted id. A predicted link is
               right when both its ends are matched to one true track. Recall over the true links, precision over
               the predicted ones: a missed object costs both links it ends, an id switch one;
  tracks       a true track is whole when every appearance is matched, all to one predicted id;
  divisions    (where both sides name parents) a true division is found when the predicted object matched to the
               mother's last appearance is the parent of the two matched to the daughters' first; a predicted
               division that is no true one is false.
Memory: one frame of each movie at a time, and an entry per object and frame (ids, not pixels).
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import UnetkitError

MATCH_IOU = 0.5


@dataclass
class TrackScores:
    frames: int
    true_objects: int
    predicted_objects: int
    matched: int
    detection_f1: float
    true_links: int
    links_kept: int
    link_recall: float
    predicted_links: int
    links_right: int
    link_precision: float
    true_tracks: int
    tracks_whole: int
    whole_track_share: float
    true_divisions: int | None = None      # None: a side names no parents
    divisions_found: int | None = None
    false_divisions: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _ratio(a: int, b: int) -> float:
    return float(a / b) if b else float("nan")


def frame_matches(truth: np.ndarray, pred: np.ndarray, thresh: float = MATCH_IOU) -> dict[int, int]:
    """{true id: predicted id} of one frame's one-to-one matches at IoU >= ``thresh``."""
    from .matching import iou_matrix, match_indices
    (t_seq, t_ids), (p_seq, p_ids) = _sequential(truth), _sequential(pred)
    rows, cols = match_indices(iou_matrix(t_seq, p_seq), thresh)
    return {int(t_ids[r]): int(p_ids[c]) for r, c in zip(rows, cols)}


def _sequential(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels renumbered 1..N, the ids they had): the IoU matrix stays as small as the frame's objects, whatever
    the movie's ids."""
    ids = np.unique(labels[labels > 0])
    return np.where(labels > 0, np.searchsorted(ids, labels) + 1, 0), ids


def _links(appearances: dict[int, list[tuple[int, int]]]) -> tuple[int, int]:
    """(links, links whose two ends carry the same non-zero partner id) over each id's appearances (t, partner),
    consecutive ones at most two frames apart (one missed frame bridged, as ``count --t track`` bridges it)."""
    total = right = 0
    for seen in appearances.values():
        for (t0, a), (t1, b) in zip(seen, seen[1:]):
            if t1 - t0 <= 2:
                total += 1
                right += int(a != 0 and a == b)
    return total, right


def track_scores(frames, true_parents: dict | None = None, pred_parents: dict | None = None) -> TrackScores:
    """``TrackScores`` of ``frames``: (true labels, predicted labels) of each frame in order; parents
    {daughter id: mother id} of either side, or None where it names none."""
    truth_seen: dict[int, list] = {}   # true id -> [(t, predicted id matched or 0)]
    pred_seen: dict[int, list] = {}    # predicted id -> [(t, true id matched or 0)]
    n = 0
    for t, (truth, pred) in enumerate(frames):
        if truth.shape != pred.shape:
            raise UnetkitError(f"frame {t}: predicted labels {pred.shape} differ in size from the truth {truth.shape}")
        match = frame_matches(truth, pred)
        back = {p: i for i, p in match.items()}
        for i in np.unique(truth[truth > 0]).tolist():
            truth_seen.setdefault(i, []).append((t, match.get(i, 0)))
        for p in np.unique(pred[pred > 0]).tolist():
            pred_seen.setdefault(p, []).append((t, back.get(p, 0)))
        n = t + 1
    n_true = sum(map(len, truth_seen.values()))
    n_pred = sum(map(len, pred_seen.values()))
    matched = sum(p != 0 for seen in truth_seen.values() for _, p in seen)
    true_links, kept = _links(truth_seen)
    pred_links, right = _links(pred_seen)
    whole = sum(len({p for _, p in seen}) == 1 and seen[0][1] != 0 for seen in truth_seen.values())
    scores = TrackScores(n, n_true, n_pred, matched, _ratio(2 * matched, n_true + n_pred), true_links, kept,
                         _ratio(kept, true_links), pred_links, right, _ratio(right, pred_links), len(truth_seen),
                         whole, _ratio(whole, len(truth_seen)))
    if true_parents is not None and pred_parents is not None:
        scores.true_divisions, scores.divisions_found, scores.false_divisions = _divisions(
            truth_seen, true_parents, pred_parents)
    return scores


def _divisions(truth_seen: dict, true_parents: dict, pred_parents: dict) -> tuple[int, int, int]:
    """(true divisions, found, false): see the module's doc."""
    def mothers(parents):
        out: dict[int, set] = {}
        for kid, mother in parents.items():
            out.setdefault(mother, set()).add(kid)
        return {m: kids for m, kids in out.items() if len(kids) == 2}
    predicted = mothers(pred_parents)
    found = 0
    for mother, kids in mothers(true_parents).items():
        if mother not in truth_seen or not kids <= set(truth_seen):
            continue
        m = truth_seen[mother][-1][1]
        ks = {truth_seen[k][0][1] for k in kids}
        found += int(m != 0 and 0 not in ks and predicted.get(m) == ks)
    return len(mothers(true_parents)), found, len(predicted) - found


def read_parents(folder: Path, stem: str) -> dict[int, int] | None:
    """{daughter: mother} from ``STEM_tracks.csv`` (id and parent columns, as ``count --t track|lineage`` writes it)
    or ``STEM.txt`` (the Cell Tracking Challenge's ``L B E P`` lines) in ``folder``; None where neither is there."""
    table, ctc = folder / f"{stem}_tracks.csv", folder / f"{stem}.txt"
    if table.is_file():
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"id", "parent"} <= set(rows[0]):
            raise UnetkitError(f"{table}: a tracks table needs id and parent columns (0 = none)")
        return {int(r["id"]): int(r["parent"]) for r in rows if int(r["parent"])}
    if ctc.is_file():
        parents = {}
        for n, line in enumerate(ctc.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4 or not all(f.isdigit() for f in fields):
                raise UnetkitError(f"{ctc}: line {n} is not 'L B E P' (four whole numbers: the Cell Tracking "
                                   "Challenge's track, begin, end, parent)")
            if int(fields[3]):
                parents[int(fields[0])] = int(fields[3])
        return parents
    return None


def _frames(truth_path: Path, pred_path: Path):
    """(true labels, predicted labels) of each frame of two label movies, read one frame at a time."""
    from .io import open_image, pixels
    truth, pred = open_image(truth_path), open_image(pred_path)
    for path, img in ((truth_path, truth), (pred_path, pred)):
        if img.shape["C"] > 1 or img.shape["Z"] > 1:
            raise UnetkitError(f"{path}: a {img.describe()} image; tracks are scored on label movies of one plane "
                               "a frame (T, Y, X)")
    if truth.data.shape != pred.data.shape:
        raise UnetkitError(f"{pred_path}: {pred.describe()} against its truth's {truth.describe()}; score the "
                           "movie it was counted from")
    for t in range(truth.shape["T"]):
        yield pixels(truth_path, truth.data[t, 0, 0]), pixels(pred_path, pred.data[t, 0, 0])


def pair_movies(pred_dir: Path, truth_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """([(name, NAME_labels in ``pred_dir``, NAME in ``truth_dir``)] by name, as ``count`` names its label images;
    every truth's name)."""
    from .batch import image_stem
    from .data.pairs import list_images
    preds = {image_stem(p).removesuffix("_labels"): p for p in list_images(pred_dir, "label movie")
             if image_stem(p).endswith("_labels")}
    truths = {image_stem(p): p for p in list_images(truth_dir, "ground-truth label movie")}
    names = sorted(set(preds) & set(truths))
    if not names:
        raise UnetkitError(f"{pred_dir}: no NAME_labels movie ('unetkit count --t track' or lineage) matches a "
                           f"truth in {truth_dir} by name")
    return [(n, preds[n], truths[n]) for n in names], list(truths)


def evaluate_tracks(pred_dir, truth_dir, *, out_dir=None, overwrite: bool = False, verbose: bool = True) -> dict:
    """Score each movie ``count`` tracked in ``pred_dir`` against the truth movie of its name in ``truth_dir``
    (parents from ``read_parents`` on both sides); writes ``track_evaluation.csv`` (a row per movie) and
    ``track_evaluation.json`` (those rows and the movies pooled) to ``out_dir`` (default ``pred_dir``)."""
    import json

    from .evaluation import evaluation_targets, unscored
    from .io import write_text
    from .progress import Progress, plural
    pred_dir, truth_dir = Path(pred_dir), Path(truth_dir)
    targets = evaluation_targets(Path(out_dir or pred_dir), "track_evaluation", overwrite)
    movies, truths = pair_movies(pred_dir, truth_dir)
    unscored(truths, [n for n, _, _ in movies], truth_dir, verbose, "truth movies", "tracked movie")
    rows = []
    bar = Progress(len(movies), "movies", enabled=verbose)
    for name, pred, truth in movies:
        bar.step(name)
        scores = track_scores(_frames(truth, pred), read_parents(truth_dir, name), read_parents(pred_dir, name))
        rows.append({"file": name, **scores.as_dict()})
    pooled = _pooled(rows)
    table = io.StringIO()
    writer = csv.DictWriter(table, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(targets[0], table.getvalue())
    write_text(targets[1], json.dumps({"movies": rows, "pooled": pooled}, indent=1))
    if verbose:
        divisions = "" if pooled["true_divisions"] is None else (
            f", divisions found {pooled['divisions_found']} of {pooled['true_divisions']} "
            f"({pooled['false_divisions']} false)")
        print(f"over {plural(len(rows), 'movie')}: detections F1 {pooled['detection_f1']:.3f}, links kept "
              f"{pooled['link_recall']:.3f} (recall) and right {pooled['link_precision']:.3f} (precision), "
              f"whole tracks {pooled['tracks_whole']} of {pooled['true_tracks']}{divisions}")
        print(f"[unetkit] wrote {targets[0]} and {targets[1]}")
    return {"movies": rows, "pooled": pooled}


def _pooled(rows: list[dict]) -> dict:
    """The movies' counts added up and their ratios taken again (not a mean of ratios)."""
    counts = [k for k, v in rows[0].items() if k != "file" and isinstance(v, int)]
    total = {k: sum(r[k] for r in rows) for k in counts}
    divisions = all(r["true_divisions"] is not None for r in rows)
    for k in ("true_divisions", "divisions_found", "false_divisions"):
        total[k] = sum(r[k] for r in rows) if divisions else None
    total.update(detection_f1=_ratio(2 * total["matched"], total["true_objects"] + total["predicted_objects"]),
                 link_recall=_ratio(total["links_kept"], total["true_links"]),
                 link_precision=_ratio(total["links_right"], total["predicted_links"]),
                 whole_track_share=_ratio(total["tracks_whole"], total["true_tracks"]))
    return total
