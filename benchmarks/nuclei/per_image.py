"""Image by image: each `unetkit count` folder's true and counted nuclei, count error and errors by kind at IoU 0.5;
with several folders (the same images counted several ways), each folder's pooled score and an oracle's, which takes
for every image the folder that scored it best by its own truth (benchmarks 33: how much a better per-image choice
could give at most; picking the best of several noisy scores flatters it).

Usage: python benchmarks/nuclei/per_image.py TRUTH_DIR COUNT_DIR [COUNT_DIR ...]
"""
import sys
from pathlib import Path

import numpy as np

from unetkit.error_kinds import error_kinds
from unetkit.io import read_mask
from unetkit.matching import count_error, matching, matching_dataset


def pooled(pairs) -> str:
    m, strict = matching_dataset(pairs, (0.5, 0.75))
    err = np.median([count_error(len(np.unique(t)) - 1, len(np.unique(p)) - 1)[1] for t, p in pairs])
    return f"F1 @ 0.5 {m.f1:.3f}, @ 0.75 {strict.f1:.3f}, median count error {100 * err:.1f} %"


def main(truth_dir, *count_dirs):
    stems, pairs = [], {d: [] for d in count_dirs}
    for t in sorted(Path(truth_dir).iterdir()):
        truth = read_mask(t).astype(np.int64)
        stems.append(t.stem)
        for d in count_dirs:
            pairs[d].append((truth, read_mask(next(Path(d).glob(f"{t.stem}_labels.*"))).astype(np.int64)))
    for d in count_dirs:
        print(f"== {d}: {pooled(pairs[d])}")
        for stem, (t, p) in zip(stems, pairs[d]):
            n_t, n_p = len(np.unique(t)) - 1, len(np.unique(p)) - 1
            print(f"  {stem[:8]} true {n_t} counted {n_p} ({100 * (n_p - n_t) / max(n_t, 1):+.1f} %) "
                  f"F1 {matching(t, p, (0.5,))[0].f1:.3f} {error_kinds(t, p, 0.5)}")
    if len(count_dirs) > 1:
        best = [max((pairs[d][i] for d in count_dirs), key=lambda tp: matching(*tp, (0.5,))[0].f1)
                for i in range(len(stems))]
        print(f"== oracle (each image's best folder): {pooled(best)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
