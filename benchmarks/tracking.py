"""`count --t track` on synthetic time lapses: how often a nucleus keeps one id through the movie, by how far
it moves a frame.

Each movie: 512 x 512 px, 12 frames, 36 fluorescence nuclei (ellipses, radius 6-9 px, a Gaussian grain, Poisson
noise over a camera offset) that start on a jittered grid and take a random walk of STEP px a frame in a random
direction (reflected at the border; a step that would make two nuclei touch is not taken, so no nucleus hides
another). The truth is each nucleus' centre in every frame; a track is kept whole when the label image holds one and
the same non-zero id at its centre in all 12 frames. `count` runs with its defaults (the bundled model, the size
search, TTA) plus `--t track`.

For tracked movies also NAME_tracks.csv's mean speed per track against the walk's own (px a frame).

--miss P leaves each nucleus out of a frame with chance P (never two frames running): `--t track` bridges one
missed frame; the frames' labels linked without the bridge (linking.link_stack) are scored beside it.

Usage: python benchmarks/tracking.py OUT [--steps 1 2 4 6] [--seed 5] [--miss 0.05]
"""
import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

SIZE, FRAMES, N = 512, 12, 36


def walk(rng, step: float, radii: np.ndarray) -> np.ndarray:
    """(FRAMES, N, 2) centres: a jittered grid, then random steps that keep every pair apart."""
    side = int(np.ceil(np.sqrt(N)))
    grid = (np.arange(side) + 0.5) * SIZE / side
    pts = np.array([(y, x) for y in grid for x in grid])[:N] + rng.normal(0, 4, (N, 2))
    out = [pts.copy()]
    for _ in range(FRAMES - 1):
        for i in rng.permutation(N):
            angle = rng.uniform(0, 2 * np.pi)
            new = pts[i] + step * np.array([np.sin(angle), np.cos(angle)])
            new = np.where(new < radii[i] + 2, 2 * (radii[i] + 2) - new, new)
            new = np.where(new > SIZE - radii[i] - 2, 2 * (SIZE - radii[i] - 2) - new, new)
            gaps = np.hypot(*(pts - new).T) - radii - radii[i]
            gaps[i] = np.inf
            if gaps.min() > 3:
                pts[i] = new
        out.append(pts.copy())
    return np.array(out)


def frame(rng, centres: np.ndarray, radii: np.ndarray, shapes: list, present: np.ndarray) -> np.ndarray:
    signal = np.zeros((SIZE, SIZE))
    grain = ndimage.gaussian_filter(rng.normal(0, 1, (SIZE, SIZE)), 2.0)
    for centre, r, shape, shown in zip(centres, radii, shapes, present):
        if not shown:
            continue
        inside = ellipse(centre, r, shape)
        signal[inside] = shape[2] * (1 + 0.25 * grain[inside])
    return (100 + rng.poisson(np.clip(ndimage.gaussian_filter(signal, 1.0), 0, None) * 400)).astype(np.uint16)


def absences(miss: float, seed: int) -> np.ndarray:
    """(FRAMES, N) True where a nucleus is drawn: each is left out of a frame with probability ``miss`` (never the
    first frame, never two frames running), as a network misses a dim nucleus now and then."""
    rng = np.random.default_rng(seed + 1000)   # its own stream: the walks and pixels stay those of miss 0
    present = np.ones((FRAMES, N), bool)
    for t in range(1, FRAMES):
        present[t] = ~((rng.random(N) < miss) & present[t - 1])
    return present


def movie(out: Path, step: float, seed: int, miss: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    radii = rng.uniform(6, 9, N)
    shapes = [(rng.uniform(1.0, 1.3), rng.uniform(0, np.pi), rng.uniform(0.4, 1.0)) for _ in range(N)]
    centres = walk(rng, step, radii)
    present = absences(miss, seed)
    tifffile.imwrite(out, np.stack([frame(rng, c, radii, shapes, p) for c, p in zip(centres, present)]),
                     imagej=True, metadata={"axes": "TYX"})
    return centres, present


def score(labels: np.ndarray, centres: np.ndarray, present: np.ndarray) -> dict:
    """A track is whole when one non-zero id holds its centre in every frame it is drawn in; a link is broken when
    the id changes between two frames it is drawn in, one missed frame between them or none."""
    ids = np.array([[labels[t, int(round(y)), int(round(x))] for y, x in centres[t]] for t in range(FRAMES)])
    whole, links, broken = [], 0, 0
    for col, shown in zip(ids.T, present.T):
        seen = col[shown]
        whole.append((seen > 0).all() and len(set(seen)) == 1)
        links += len(seen) - 1
        broken += int(sum((a != b) or a == 0 for a, b in zip(seen, seen[1:])))
    return {"tracks_whole": float(np.mean(whole)), "links": links, "broken_links": broken}


def speed_error(tracks_csv: Path, labels: np.ndarray, centres: np.ndarray) -> dict:
    """Median and largest |measured - true| mean speed (px a frame) over the tracks held whole, and the true
    median speed."""
    with open(tracks_csv) as fh:
        measured = {int(r["id"]): float(r["mean_speed_per_frame"]) for r in csv.DictReader(fh)}
    true = np.hypot(*np.diff(centres, axis=0).transpose(2, 0, 1)).mean(0)   # (N,) px a frame
    errors = []
    for n in range(N):
        ids = {int(labels[t, int(round(y)), int(round(x))]) for t, (y, x) in enumerate(centres[:, n])}
        if len(ids) == 1 and 0 not in ids:
            errors.append(abs(measured[ids.pop()] - true[n]))
    return {"true_median_speed": round(float(np.median(true)), 2),
            "speed_error_median": round(float(np.median(errors)), 2) if errors else None,
            "speed_error_max": round(float(np.max(errors)), 2) if errors else None}


def lineage_movie(out: Path, step: float, seed: int, k: int, n: int = 30, at: int = FRAMES // 2,
                  spread: float = 0.0) -> list[dict]:
    """A movie of ``n`` nuclei walking ``step`` px a frame, ``k`` of which divide at frame ``at`` (daughters
    ``spread`` px farther apart than touching, each); returns the nuclei, each {"centres": {t: (y, x)}, "parent":
    index or -1}."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    grid = (np.arange(side) + 0.5) * SIZE / side
    cells = [{"r": rng.uniform(7, 9), "shape": (rng.uniform(1.0, 1.2), rng.uniform(0, np.pi), rng.uniform(0.5, 1.0)),
              "centres": {0: np.array(p) + rng.normal(0, 4, 2)}, "parent": -1}
             for p in [(y, x) for y in grid for x in grid][:n]]
    dividing = set(rng.choice(n, k, replace=False).tolist())
    for t in range(1, FRAMES):
        alive = [c for c in cells if t - 1 in c["centres"]]
        for c in alive:
            c["centres"][t] = c["centres"][t - 1]
        if t == at:
            for i in sorted(dividing):
                mother = cells[i]
                del mother["centres"][t]
                r, angle = mother["r"] / np.sqrt(2), rng.uniform(0, np.pi)
                offset = (r + 1.5 + spread) * np.array([np.sin(angle), np.cos(angle)])
                for sign in (1, -1):
                    cells.append({"r": r, "shape": mother["shape"], "parent": i,
                                  "centres": {t: mother["centres"][t - 1] + sign * offset}})
            continue                  # daughters appear where their mother was; everyone walks on from t + 1
        alive = [c for c in cells if t in c["centres"]]
        for j in rng.permutation(len(alive)):
            c = alive[j]
            angle = rng.uniform(0, 2 * np.pi)
            new = c["centres"][t] + step * np.array([np.sin(angle), np.cos(angle)])
            new = np.clip(new, c["r"] + 2, SIZE - c["r"] - 2)
            gaps = [np.hypot(*(o["centres"][t] - new)) - o["r"] - c["r"] for o in alive if o is not c]
            if min(gaps) > 3:
                c["centres"][t] = new
    frames, truth = [], np.zeros((FRAMES, SIZE, SIZE), np.uint16)
    track_id = {id(c): i + 1 for i, c in enumerate(cells)}
    for t in range(FRAMES):
        here = [c for c in cells if t in c["centres"]]
        frames.append(frame(rng, [c["centres"][t] for c in here], [c["r"] for c in here],
                            [c["shape"] for c in here], [True] * len(here)))
        for c in here:   # the truth: each nucleus' ellipse under its track id (1 + its index)
            truth[t][ellipse(c["centres"][t], c["r"], c["shape"])] = track_id[id(c)]
    tifffile.imwrite(out, np.stack(frames), imagej=True, metadata={"axes": "TYX"})
    truth_dir = out.parent / "truth"
    truth_dir.mkdir(exist_ok=True)
    tifffile.imwrite(truth_dir / out.name, truth, imagej=True, metadata={"axes": "TYX"})
    (truth_dir / f"{out.stem}.txt").write_text("".join(   # the Cell Tracking Challenge's L B E P
        f"{i + 1} {min(c['centres'])} {max(c['centres'])} {c['parent'] + 1 if c['parent'] >= 0 else 0}\n"
        for i, c in enumerate(cells)))
    return cells


def challenge_truth(truth: Path, stem: str) -> Path:
    """The truth movie ``stem`` (label movie and L B E P text in ``truth``) laid out as the Cell Tracking Challenge
    distributes ground truth: ``truth/STEM_GT/TRA/man_track000.tif``... and ``man_track.txt``; returns STEM_GT."""
    import shutil
    gt = truth / f"{stem}_GT"
    (gt / "TRA").mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(tifffile.imread(truth / f"{stem}.tif")):
        tifffile.imwrite(gt / "TRA" / f"man_track{t:03d}.tif", frame.astype(np.uint16))
    shutil.copy(truth / f"{stem}.txt", gt / "TRA" / "man_track.txt")
    return gt


def ellipse(centre, r: float, shape: tuple) -> np.ndarray:
    """The pixels of a nucleus drawn by ``frame`` (before its blur), as a mask."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    (cy, cx), (ecc, theta, _) = centre, shape
    dy, dx = yy - cy, xx - cx
    u = (dy * np.cos(theta) + dx * np.sin(theta)) / (r * ecc)
    v = (-dy * np.sin(theta) + dx * np.cos(theta)) / (r / ecc)
    return u ** 2 + v ** 2 <= 1


def score_lineage(labels: np.ndarray, tracks_csv: Path, cells: list[dict]) -> dict:
    """Divisions found and false, whole tracks, daughters that took their mother's id (see the module's doc)."""
    with open(tracks_csv) as fh:
        parent = {int(r["id"]): int(r["parent"]) for r in csv.DictReader(fh)}

    def ids(c):
        return [int(labels[t, int(round(y)), int(round(x))]) for t, (y, x) in sorted(c["centres"].items())]
    found, took = 0, 0
    mothers = {c["parent"] for c in cells if c["parent"] >= 0}
    for i in mothers:
        mother_id = ids(cells[i])[-1]
        daughters = [ids(c)[0] for c in cells if c["parent"] == i]
        found += int(mother_id > 0 and len(set(daughters)) == 2 and all(parent.get(d) == mother_id for d in daughters))
        took += sum(d == mother_id for d in daughters)
    named = sum(p > 0 for p in parent.values()) // 2
    whole = [len(set(ids(c))) == 1 and 0 not in ids(c) for c in cells]
    return {"divisions": len(mothers), "divisions_found": found, "false_divisions": named - found,
            "tracks_whole": round(float(np.mean(whole)), 3), "daughters_with_mothers_id": took}


def still_movie(image: Path, out: Path, step: float, seed: int, frames: int = 6, truth: Path | None = None) -> None:
    """``image`` drifted ``step`` px a frame down and right (mirror-padded), fresh noise in each frame; with
    ``truth`` (its instance labels) also the truth movie (``truth/NAME.tif``, ids are tracks, drifted alike with
    nothing shifted in; ``NAME.txt`` the Challenge's L B E P, no parents)."""
    from unetkit.io import read_array
    rng = np.random.default_rng(seed)
    img = read_array(image).astype(np.float32)
    if img.ndim == 3:
        img = img.mean(-1)
    noise = 0.02 * (np.percentile(img, 99.9) - np.percentile(img, 0.1))
    stack = [ndimage.shift(img, (t * step, t * step), order=1, mode="mirror") + rng.normal(0, noise, img.shape)
             for t in range(frames)]
    tifffile.imwrite(out, np.clip(np.stack(stack), 0, 65535).astype(np.uint16), imagej=True,
                     metadata={"axes": "TYX"})
    if truth is not None:
        labels = read_array(truth).astype(np.int32)
        movie = np.stack([ndimage.shift(labels, (t * step, t * step), order=0, mode="constant") for t in range(frames)])
        (out.parent / "truth").mkdir(exist_ok=True)
        tifffile.imwrite(out.parent / "truth" / out.name, movie.astype(np.uint16), imagej=True,
                         metadata={"axes": "TYX"})
        seen = {}
        for t, frame in enumerate(movie):
            for i in np.unique(frame[frame > 0]).tolist():
                seen.setdefault(i, []).append(t)
        (out.parent / "truth" / f"{out.stem}.txt").write_text("".join(
            f"{i} {min(ts)} {max(ts)} 0\n" for i, ts in sorted(seen.items())))


def still(args, root: Path) -> list[dict]:
    rows = []
    for image in sorted(Path(args.still).glob("*.tif")):
        path = root / f"still_{image.stem[:12]}.tif"
        truth = Path(args.still).parent / "truth" / f"{image.stem}.png"   # new_microscope.py's layout
        still_movie(image, path, args.steps[0], args.seed, truth=truth if truth.is_file() else None)
        dest = root / f"count_{path.stem}"
        subprocess.run(["unetkit", "count", str(path), "--model", "nuclei", "--out", str(dest), "--t", "lineage",
                        "--quiet", "--overwrite", "--ctc"], check=True)
        with open(dest / f"{path.stem}_tracks.csv") as fh:
            tracks = list(csv.DictReader(fh))
        with open(dest / "counts.csv") as fh:
            objects = sum(int(r["count"]) for r in csv.DictReader(fh))
        row = {"movie": path.stem, "objects": objects, "tracks": len(tracks),
               "false_divisions": sum(int(r["parent"]) > 0 for r in tracks) // 2}
        if truth.is_file():   # the product's tracking scores, and the Challenge's own with --ctc
            from unetkit.track_scores import evaluate_tracks
            pooled = evaluate_tracks(dest, root / "truth", out_dir=dest, overwrite=True, verbose=False)["pooled"]
            row.update({k: round(pooled[k], 3) for k in ("detection_f1", "link_recall", "link_precision",
                                                          "whole_track_share")}, true_tracks=pooled["true_tracks"])
            if args.ctc:
                from unetkit.ctc import challenge_scores
                got = challenge_scores(dest / f"{path.stem}_RES", challenge_truth(root / "truth", path.stem))
                row.update({k: round(v, 3) for k, v in got.items() if k[4:] in ("DET", "TRA", "Valid")})
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=float, nargs="+", default=[1, 2, 4, 6])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--miss", type=float, default=0.0, help="chance a nucleus is left out of a frame")
    ap.add_argument("--modes", nargs="+", default=["track"], help="linking modes of count --t (frames always)")
    ap.add_argument("--divisions", type=int, default=0, help="movies where this many nuclei divide")
    ap.add_argument("--still", help="a folder of .tif images made into movies where nothing divides")
    ap.add_argument("--ctc", action="store_true",
                    help="division movies: also the Cell Tracking Challenge's DET, TRA, BC(0) (py-ctcmetrics, the "
                         "ctc extra) of count --ctc's NAME_RES")
    ap.add_argument("--spread", type=float, nargs="+", default=[0.0],
                    help="daughters this many px farther apart at birth than touching, each")
    args = ap.parse_args()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.still:
        (root / "still.json").write_text(json.dumps(still(args, root), indent=1))
        return
    if args.divisions:
        for step, spread in [(a, b) for a in args.steps for b in args.spread]:
            path = root / f"divide_{step:g}px_{args.divisions}_spread{spread:g}.tif"
            cells = lineage_movie(path, step, args.seed, args.divisions, spread=spread)
            for mode in args.modes:
                dest = root / f"count_{path.stem}_{mode}"
                t0 = time.time()
                subprocess.run(["unetkit", "count", str(path), "--model", "nuclei", "--out", str(dest), "--t", mode,
                                "--quiet", "--overwrite", "--ctc"], check=True)
                from unetkit.io import open_image
                labels = np.asarray(open_image(dest / f"{path.stem}_labels.ome.zarr").data[:, 0, 0])
                row = {"step_px": step, "spread_px": spread, "mode": mode, "seconds": round(time.time() - t0, 1),
                       **score_lineage(labels, dest / f"{path.stem}_tracks.csv", cells)}
                if args.ctc:   # the Challenge's own measures (py-ctcmetrics) of NAME_RES against the truth
                    from unetkit.ctc import challenge_scores
                    got = challenge_scores(dest / f"{path.stem}_RES", challenge_truth(root / "truth", path.stem))
                    row.update({k: round(v, 3) for k, v in got.items() if k[4:] in ("DET", "TRA", "BC(0)", "Valid")})
                from unetkit.track_scores import evaluate_tracks   # the product's own tracking scores
                pooled = evaluate_tracks(dest, root / "truth", out_dir=dest, overwrite=True, verbose=False)["pooled"]
                row.update({k: round(pooled[k], 3) if isinstance(pooled[k], float) else pooled[k]
                            for k in ("detection_f1", "link_recall", "link_precision", "whole_track_share",
                                      "divisions_found", "false_divisions")})
                rows.append(row)
                print(json.dumps(row), flush=True)
        (root / "lineage.json").write_text(json.dumps(rows, indent=1))
        return
    for step in args.steps:
        path = root / f"walk_{step:g}px{f'_miss{args.miss:g}' if args.miss else ''}.tif"
        centres, present = movie(path, step, args.seed, args.miss)
        for mode in (*args.modes, "frames"):
            dest = root / f"count_{step:g}px_{mode}"
            t0 = time.time()
            subprocess.run(["unetkit", "count", str(path), "--model", "nuclei", "--out", str(dest), "--t", mode,
                            "--quiet", "--overwrite"], check=True)
            seconds = time.time() - t0
            from unetkit.io import open_image
            labels = np.asarray(open_image(dest / f"{path.stem}_labels.ome.zarr").data[:, 0, 0])
            with open(dest / "counts.csv") as fh:
                counts = [int(r["count"]) for r in csv.DictReader(fh)]
            row = {"step_px": step, "miss": args.miss, "mode": mode, "seconds": round(seconds, 1),
                   "median_count": float(np.median(counts)), **score(labels, centres, present)}
            if mode != "frames":   # divisions named where none are (lineage)
                with open(dest / f"{path.stem}_tracks.csv") as fh:
                    row["false_divisions"] = sum(int(r["parent"]) > 0 for r in csv.DictReader(fh)) // 2
            if mode == "track" and not args.miss:   # NAME_tracks.csv's mean speed against the walk's
                row.update(speed_error(dest / f"{path.stem}_tracks.csv", labels, centres))
            rows.append(row)
            print(json.dumps(row), flush=True)
            if mode == "frames":   # the same links without bridging a missed frame, on the frames' own labels
                from unetkit.linking import TRACK_IOU, link_stack
                unbridged = link_stack(labels, TRACK_IOU)[0]
                row = {"step_px": step, "miss": args.miss, "mode": "track, no bridge",
                       **score(unbridged, centres, present)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    (root / "tracking.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
