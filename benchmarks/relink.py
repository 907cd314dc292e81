"""Linking rules compared without predicting again: the label movies of earlier `count --t ...` runs, each frame's
objects given ids of their own (the segmentation as `count` made it, its links undone), linked again by the
installed `unetkit.linking` with `count --t MODE`'s rules. Run it at two commits to compare rules on the same
segmentations (benchmarks/README.md section 37).

For each COUNT folder (one movie's `count` output, NAME_labels.ome.zarr inside): objects, tracks and divisions
named; with --truth DIR (label movies NAME.tif whose ids are tracks, parents in NAME.txt, as tracking.py writes
them) also `evaluate --tracks`'s scores.

Usage: python benchmarks/relink.py COUNT [COUNT ...] [--mode lineage] [--truth DIR]
"""
import argparse
from pathlib import Path

import numpy as np
import tifffile

from unetkit.io import open_image
from unetkit.linking import RULES, link_stack
from unetkit.track_scores import read_parents, track_scores


def unlinked(labels_path: Path) -> np.ndarray:
    """The movie's frames with ids 1.. of their own, unique over the movie (as count's frames are before linking)."""
    movie = np.asarray(open_image(labels_path).data[:, 0, 0]).astype(np.int64)
    offset = 0
    for frame in movie:
        inside = frame > 0
        _, ids = np.unique(frame[inside], return_inverse=True)
        frame[inside] = ids + 1 + offset
        offset += int(ids.max()) + 1 if inside.any() else 0
    return movie


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("counts", nargs="+", type=Path)
    ap.add_argument("--mode", default="lineage", choices=sorted(RULES))
    ap.add_argument("--truth", type=Path)
    args = ap.parse_args()
    totals = {"movies": 0, "objects": 0, "tracks": 0, "divisions": 0}
    for folder in args.counts:
        found = sorted(folder.glob("*_labels.ome.zarr"))
        if not found:
            print(f"{folder}: no label movie, skipped")
            continue
        movie = unlinked(found[0])
        linked, links = link_stack(movie, **RULES[args.mode])
        row = {"movies": 1, "objects": int(sum(len(np.unique(f[f > 0])) for f in movie)),
               "tracks": len(np.unique(linked[linked > 0])), "divisions": len(set(links.parents.values()))}
        line = f"{folder.name}: {row['objects']} objects, {row['tracks']} tracks, {row['divisions']} divisions"
        if args.truth:
            stem = found[0].name[:-len("_labels.ome.zarr")]
            truth = tifffile.imread(args.truth / f"{stem}.tif")
            scores = track_scores(zip(truth, linked), read_parents(args.truth, stem), links.parents)
            line += (f"; links kept {scores.link_recall:.3f}, right {scores.link_precision:.3f}, whole tracks "
                     f"{scores.whole_track_share:.3f}, divisions found {scores.divisions_found} of "
                     f"{scores.true_divisions}, false {scores.false_divisions}")
        print(line)
        totals = {k: totals[k] + row[k] for k in totals}
    print("all: " + ", ".join(f"{v} {k}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
