"""Frame linking alone (no network) on dense synthetic label movies: N discs of radius 8 px in 512 x 512 px, a
random walk of STEP px a frame (a step that would make two touch is not taken), each detection dropped with chance
DROP (as a network misses a dim nucleus now and then; never in frame 0). The segmentation is perfect, so what is
measured is the linking: the share of nuclei whose centre holds one and the same id in every frame they are drawn
in (whole tracks), and how many ids cover the centres of two or more nuclei (tracks merged or swapped; a few come
from discs that start overlapping, in the densest movies, whatever the rule).

Compares the overlap rule alone (with the one-frame bridge, the rule before stop 39) with `count --t track`'s
rules (`linking.RULES["track"]`: also the nearest left unlinked within one diameter, a bridge of two frames), then
bridges of 1, 2 and 3 frames under those rules.

Usage: python benchmarks/linking_dense.py
"""
import numpy as np
from skimage.draw import disk

from unetkit.linking import RULES, TRACK_IOU, link_stack

SIZE, R, FRAMES = 512, 8, 12


def walk(n: int, step: float, drop: float, seed: int = 0):
    """(label movie, (FRAMES, n, 2) centres, (FRAMES, n) drawn)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(R + 2, SIZE - R - 2, (n, 2))
    for _ in range(200):   # spread the starts apart
        d = np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        bad = np.flatnonzero(d.min(1) < 2 * R + 3)
        if not len(bad):
            break
        pts[bad] = rng.uniform(R + 2, SIZE - R - 2, (len(bad), 2))
    centres = [pts.copy()]
    for _ in range(1, FRAMES):
        for i in rng.permutation(n):
            angle = rng.uniform(0, 2 * np.pi)
            new = np.clip(pts[i] + step * np.array([np.sin(angle), np.cos(angle)]), R + 2, SIZE - R - 2)
            gaps = np.hypot(*(pts - new).T)
            gaps[i] = np.inf
            if gaps.min() > 2 * R + 3:
                pts[i] = new
        centres.append(pts.copy())
    drawn = rng.random((FRAMES, n)) >= drop
    drawn[0] = True
    movie = np.zeros((FRAMES, SIZE, SIZE), np.uint32)
    label = 1
    for t in range(FRAMES):
        for i in range(n):
            if drawn[t, i]:
                movie[t][disk(centres[t][i], R, shape=(SIZE, SIZE))] = label
            label += 1     # ids unique over the movie, as count's frames are before linking
    return movie, np.array(centres), drawn


def score(labels: np.ndarray, centres: np.ndarray, drawn: np.ndarray) -> tuple[float, int]:
    ids = np.array([[labels[t, int(round(y)), int(round(x))] for y, x in centres[t]] for t in range(FRAMES)])
    whole = [len(set(col[shown])) == 1 and 0 not in col[shown] for col, shown in zip(ids.T, drawn.T)]
    owners: dict[int, set] = {}
    for n, col in enumerate(ids.T):
        for v in set(col[col > 0].tolist()):
            owners.setdefault(v, set()).add(n)
    return float(np.mean(whole)), sum(len(s) > 1 for s in owners.values())


def missed_frames() -> None:
    """How many missed frames in a row the bridge should span: count's rules with a bridge of 1, 2 and 3 frames."""
    print("| nuclei | px a frame | detections dropped | bridge 1: whole tracks, shared ids | 2 | 3 |")
    print("|---|---|---|---|---|---|")
    for n, step, drop in [(150, 4, 0.05), (150, 8, 0.05), (150, 8, 0.1), (250, 8, 0.1), (150, 4, 0.2), (250, 4, 0.1)]:
        movie, centres, drawn = walk(n, step, drop)
        got = [score(link_stack(movie, **{**RULES["track"], "bridge": b})[0], centres, drawn) for b in (1, 2, 3)]
        print(f"| {n} | {step} | {drop:.0%} | " + " | ".join(f"{w:.3f}, {s}" for w, s in got) + " |", flush=True)


def main() -> None:
    print("| nuclei | px a frame (diameter 17) | dropped | overlap + bridge: whole tracks, shared ids | "
          "count's rules: whole tracks, shared ids |")
    print("|---|---|---|---|---|")
    for n, step, drop in [(150, 4, 0), (150, 8, 0), (150, 12, 0), (250, 8, 0), (150, 8, 0.05), (250, 8, 0.05)]:
        movie, centres, drawn = walk(n, step, drop)
        before = score(link_stack(movie, TRACK_IOU, bridge=True)[0], centres, drawn)
        after = score(link_stack(movie, **RULES["track"])[0], centres, drawn)
        print(f"| {n} | {step} | {drop:.0%} | {before[0]:.3f}, {before[1]} | {after[0]:.3f}, {after[1]} |", flush=True)
    print()
    missed_frames()


if __name__ == "__main__":
    main()
