"""How well a time lapse's objects were followed, against a truth whose ids are tracks (one id through the frames,
as the Cell Tracking Challenge's TRA ground truth has them): ``unetkit evaluate --tracks``.

Each frame's objects are matched one to one at IoU >= 0.5 (``matching.match_indices``, as ``evaluate --instances``
matches them), or by the Cell Tracking Challenge's rule (``match="ctc"``: a predicted object matches a true one when
it covers more than half of it, the rule its TRA and DET measures use, whose ground truth marks each cell by a
marker smaller than the cell; a prediction covering several takes the one it covers most of). Then, over the movie:
  detections   matched objects over all frames: precision, recall, F1;
  links        a true link is two consecutive appearances of a true track (up to ``linking.MISSED`` missed frames
               between them, as ``count --t track`` bridges them, or none); it is kept when both ends are matched to one and the same predicted id. A predicted link is
               right when both its ends are matched to one true track. Recall over the true links, precision over
               the predicted ones: a missed object costs both links it ends, an id switch one;
  tracks       a true track is whole when every appearance is matched, all to one predicted id;
  divisions    (where both sides name parents) a true division is found when the predicted object matched to the
               mother's last appearance is the parent of the two matched to the daughters' first; a predicted
               division that is no true one is false.
The truth is a folder of label movies named as the counted files, or the Challenge's ground truth as it is
distributed: a ``TRA`` folder (``man_track000.tif``... and ``man_track.txt``), named after its sequence (``01_GT/TRA``
scores ``01``, counted from the folder ``01`` with ``--sequence t``), or a folder holding such ``NN_GT`` folders.
Memory: one frame of each movie at a time, and an entry per object and frame (ids, not pixels).
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .config import MATCH_RULES
from .errors import UnetkitError
from .linking import MISSED

MATCH_IOU = 0.5
CTC_TRUTH = "man_track.txt"     # what marks a Cell Tracking Challenge TRA ground-truth folder


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


def frame_matches(truth: np.ndarray, pred: np.ndarray, thresh: float = MATCH_IOU, rule: str = "iou"
                  ) -> dict[int, int]:
    """{true id: predicted id} of one frame's one-to-one matches: at IoU >= ``thresh``, or (``rule="ctc"``) where
    the prediction covers more than half of the true object (the one it covers most of, where it covers several)."""
    if rule not in MATCH_RULES:
        raise UnetkitError(f"--match {rule}: choose {' or '.join(MATCH_RULES)}")
    (t_seq, t_ids), (p_seq, p_ids) = _sequential(truth), _sequential(pred)
    if rule == "ctc":
        return _covering(t_seq, t_ids, p_seq, p_ids)
    from .matching import iou_matrix, match_indices
    rows, cols = match_indices(iou_matrix(t_seq, p_seq), thresh)
    return {int(t_ids[r]): int(p_ids[c]) for r, c in zip(rows, cols)}


def _covering(t_seq, t_ids, p_seq, p_ids) -> dict[int, int]:
    """The Challenge's rule: each true object to the prediction that covers more than half of it (one at most),
    each prediction kept for the true object it covers the largest share of."""
    both = (t_seq > 0) & (p_seq > 0)
    pairs, shared = np.unique(np.stack([t_seq[both], p_seq[both]]), axis=1, return_counts=True)
    areas = np.bincount(t_seq.ravel(), minlength=len(t_ids) + 1)
    share = shared / areas[pairs[0]]
    best: dict[int, tuple[float, int]] = {}   # prediction -> (share, true object)
    for (t, p), s in zip(pairs.T.tolist(), share.tolist()):
        if s > 0.5 and s > best.get(p, (0.0, 0))[0]:
            best[p] = (s, t)
    return {int(t_ids[t - 1]): int(p_ids[p - 1]) for p, (_, t) in best.items()}


def _sequential(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels renumbered 1..N, the ids they had): the IoU matrix stays as small as the frame's objects, whatever
    the movie's ids."""
    ids = np.unique(labels[labels > 0])
    return np.where(labels > 0, np.searchsorted(ids, labels) + 1, 0), ids


def _links(appearances: dict[int, list[tuple[int, int]]]) -> tuple[int, int]:
    """(links, links whose two ends carry the same non-zero partner id) over each id's appearances (t, partner),
    consecutive ones at most ``linking.MISSED`` + 1 frames apart (missed frames bridged, as ``count --t track``
    bridges them)."""
    total = right = 0
    for seen in appearances.values():
        for (t0, a), (t1, b) in zip(seen, seen[1:]):
            if t1 - t0 <= MISSED + 1:
                total += 1
                right += int(a != 0 and a == b)
    return total, right


def track_scores(frames, true_parents: dict | None = None, pred_parents: dict | None = None, match: str = "iou"
                 ) -> TrackScores:
    """``TrackScores`` of ``frames``: (true labels, predicted labels) of each frame in order; parents
    {daughter id: mother id} of either side, or None where it names none; ``match``: ``frame_matches``' rule."""
    truth_seen: dict[int, list] = {}   # true id -> [(t, predicted id matched or 0)]
    pred_seen: dict[int, list] = {}    # predicted id -> [(t, true id matched or 0)]
    n = 0
    for t, (truth, pred) in enumerate(frames):
        if truth.shape != pred.shape:
            raise UnetkitError(f"frame {t}: predicted labels {pred.shape} differ in size from the truth {truth.shape}")
        pairs = frame_matches(truth, pred, rule=match)
        back = {p: i for i, p in pairs.items()}
        for i in np.unique(truth[truth > 0]).tolist():
            truth_seen.setdefault(i, []).append((t, pairs.get(i, 0)))
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
        return read_lbep(ctc)
    return None


def read_lbep(path: Path) -> dict[int, int]:
    """{track: parent} of the Cell Tracking Challenge's ``L B E P`` lines (track, begin, end, parent; 0 = none)."""
    parents = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not all(f.isdigit() for f in fields):
            raise UnetkitError(f"{path}: line {n} is not 'L B E P' (four whole numbers: the Cell Tracking "
                               "Challenge's track, begin, end, parent)")
        if int(fields[3]):
            parents[int(fields[0])] = int(fields[3])
    return parents


def continuations(parents: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """({track: the track it goes on}, the parents of divisions alone) of the Challenge's parents, where a parent of
    one child is no division but the same cell after a gap (the Challenge's tracks have none): the child takes the
    first track's id, chains followed, and daughters name their mother by it."""
    children: dict[int, list[int]] = {}
    for kid, mother in parents.items():
        children.setdefault(mother, []).append(kid)
    lut = {kids[0]: mother for mother, kids in children.items() if len(kids) == 1}

    def root(i):
        while i in lut:
            i = lut[i]
        return i
    lut = {kid: root(kid) for kid in lut}
    return lut, {kid: root(mother) for kid, mother in parents.items() if kid not in lut}


def ctc_truths(truth_dir: Path) -> dict[str, Path]:
    """{sequence name: TRA folder} of the Challenge's ground truth in ``truth_dir``: the TRA folder itself
    (``01_GT/TRA`` is ``01``), a ``NN_GT`` folder, or a folder of ``NN_GT`` folders; empty where there is none."""
    def name(tra: Path) -> str:
        return (tra.parent.name if tra.name == "TRA" else tra.name).removesuffix("_GT")
    found = [truth_dir, truth_dir / "TRA", *sorted(truth_dir.glob("*_GT/TRA"))]
    return {name(tra): tra for tra in found if (tra / CTC_TRUTH).is_file()}


def _frames(truth_path: Path, pred_path: Path, lut: dict | None = None):
    """(true labels, predicted labels) of each frame of two label movies, read one frame at a time; ``lut`` renames
    true ids (the Challenge's continuations), and a Challenge TRA folder is read as its sequence of frames."""
    from .io import open_image, pixels
    from .linking import relabel
    truth = open_image(truth_path, "T:" if (truth_path / CTC_TRUTH).is_file() else None)
    pred = open_image(pred_path)
    for path, img in ((truth_path, truth), (pred_path, pred)):
        if img.shape["C"] > 1 or img.shape["Z"] > 1:
            raise UnetkitError(f"{path}: a {img.describe()} image; tracks are scored on label movies of one plane "
                               "a frame (T, Y, X)")
    if truth.data.shape != pred.data.shape:
        raise UnetkitError(f"{pred_path}: {pred.describe()} against its truth's {truth.describe()}; score the "
                           "movie it was counted from")
    for t in range(truth.shape["T"]):
        frame = pixels(truth_path, truth.data[t, 0, 0])
        yield (relabel(frame, lut) if lut else frame), pixels(pred_path, pred.data[t, 0, 0])


def pair_movies(pred_dir: Path, truth_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """([(name, NAME_labels in ``pred_dir``, its truth)] by name, as ``count`` names its label images; every truth's
    name). Truths: label movies NAME in ``truth_dir`` and the Challenge's (``ctc_truths``), which win a name both
    have."""
    from .batch import image_stem
    from .data.pairs import list_images
    from .io import is_image_file
    preds = {image_stem(p).removesuffix("_labels"): p for p in list_images(pred_dir, "label movie")
             if image_stem(p).endswith("_labels")}
    truths = ctc_truths(truth_dir)
    inside_tra = (truth_dir / CTC_TRUTH).is_file()   # the frames of one Challenge truth, not movies of their own
    if not truths or (not inside_tra and any(is_image_file(p) for p in truth_dir.iterdir())):   # label movies too
        truths = {**{image_stem(p): p for p in list_images(truth_dir, "ground-truth label movie")}, **truths}
    names = sorted(set(preds) & set(truths))
    if not names:
        raise UnetkitError(f"{pred_dir}: no NAME_labels movie ('unetkit count --t track' or lineage) matches a "
                           f"truth in {truth_dir} by name")
    return [(n, preds[n], truths[n]) for n in names], list(truths)


def evaluate_tracks(pred_dir, truth_dir, *, out_dir=None, overwrite: bool = False, verbose: bool = True,
                    match: str = "iou", challenge: bool = False) -> dict:
    """Score each movie ``count`` tracked in ``pred_dir`` against the truth movie of its name in ``truth_dir``
    (parents from ``read_parents`` on both sides, or the Challenge's ``man_track.txt``; objects matched by
    ``match``'s rule); ``challenge``: also the Challenge's own measures of each ``NAME_RES`` (``count --ctc``)
    against its ``NN_GT`` (``ctc.challenge_scores``). Writes ``track_evaluation.csv`` (a row per movie) and
    ``track_evaluation.json`` (those rows and the movies pooled) to ``out_dir`` (default ``pred_dir``)."""
    import json

    from .evaluation import evaluation_targets, unscored
    from .io import write_text
    from .progress import Progress, plural
    if match not in MATCH_RULES:
        raise UnetkitError(f"--match {match}: choose {' or '.join(MATCH_RULES)}")
    pred_dir, truth_dir = Path(pred_dir), Path(truth_dir)
    targets = evaluation_targets(Path(out_dir or pred_dir), "track_evaluation", overwrite)
    movies, truths = pair_movies(pred_dir, truth_dir)
    unscored(truths, [n for n, _, _ in movies], truth_dir, verbose, "truth movies", "tracked movie")
    rows = []
    bar = Progress(len(movies), "movies", enabled=verbose)
    for name, pred, truth in movies:
        bar.step(name)
        lut, true_parents = {}, read_parents(truth_dir, name)
        if (truth / CTC_TRUTH).is_file():
            lut, true_parents = continuations(read_lbep(truth / CTC_TRUTH))
        scores = track_scores(_frames(truth, pred, lut), true_parents, read_parents(pred_dir, name), match)
        rows.append({"file": name, **scores.as_dict(), **(_challenge(pred_dir, name, truth) if challenge else {})})
    pooled = _pooled(rows)
    table = io.StringIO()
    writer = csv.DictWriter(table, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(targets[0], table.getvalue())
    write_text(targets[1], json.dumps({"movies": rows, "pooled": pooled, "match": match}, indent=1))
    if verbose:
        if challenge:
            print("the Cell Tracking Challenge's measures, mean over the movies: " + ", ".join(
                f"{k[4:]} {v:.3f}" for k, v in pooled.items() if k.startswith("ctc_") and v is not None))
        divisions = "" if pooled["true_divisions"] is None else (
            f", divisions found {pooled['divisions_found']} of {pooled['true_divisions']} "
            f"({pooled['false_divisions']} false)")
        print(f"over {plural(len(rows), 'movie')}: detections F1 {pooled['detection_f1']:.3f}, links kept "
              f"{pooled['link_recall']:.3f} (recall) and right {pooled['link_precision']:.3f} (precision), "
              f"whole tracks {pooled['tracks_whole']} of {pooled['true_tracks']}{divisions}")
        print(f"[unetkit] wrote {targets[0]} and {targets[1]}")
    return {"movies": rows, "pooled": pooled}


def _challenge(pred_dir: Path, name: str, truth: Path) -> dict:
    """The Challenge's measures of ``NAME_RES`` in ``pred_dir`` against the ground truth whose TRA folder is
    ``truth``."""
    from .ctc import challenge_scores
    if not (truth / CTC_TRUTH).is_file():
        raise UnetkitError(f"{truth}: the Challenge's measures need its ground truth (NN_GT/TRA with "
                           f"{CTC_TRUTH}); leave out --ctc for label movies")
    res = pred_dir / f"{name}_RES"
    if not res.is_dir():
        raise UnetkitError(f"{res}: not there; count the movie with --ctc to write it")
    return challenge_scores(res, truth.parent if truth.name == "TRA" else truth)


def _pooled(rows: list[dict]) -> dict:
    """The movies' counts added up and their ratios taken again (not a mean of ratios); the Challenge's measures
    (``ctc_``) averaged over the movies, as the Challenge averages a data set's sequences."""
    counts = [k for k, v in rows[0].items() if k != "file" and isinstance(v, int)]
    total = {k: sum(r[k] for r in rows) for k in counts}
    divisions = all(r["true_divisions"] is not None for r in rows)
    for k in ("true_divisions", "divisions_found", "false_divisions"):
        total[k] = sum(r[k] for r in rows) if divisions else None
    total.update(detection_f1=_ratio(2 * total["matched"], total["true_objects"] + total["predicted_objects"]),
                 link_recall=_ratio(total["links_kept"], total["true_links"]),
                 link_precision=_ratio(total["links_right"], total["predicted_links"]),
                 whole_track_share=_ratio(total["tracks_whole"], total["true_tracks"]))
    for k in [k for k in rows[0] if k.startswith("ctc_")]:
        values = [r[k] for r in rows]
        total[k] = None if None in values else float(np.mean(values))
    return total
