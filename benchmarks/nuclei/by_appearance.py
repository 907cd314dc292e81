"""Instance scores of a `unetkit count` folder split by image appearance (fluorescence-like
gray-dark, brightfield-like gray-bright, H&E-like colour-bright, ...), so that a weak modality
is not hidden in the pooled number.

Usage: python benchmarks/nuclei/by_appearance.py COUNT_DIR TRUTH_DIR IMAGES_DIR
"""
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from unetkit.io import read_array
from unetkit.data.sampling import appearance
from unetkit.matching import count_error, matching_dataset


def main(count_dir, truth_dir, images_dir):
    groups = defaultdict(list)
    for truth_path in sorted(Path(truth_dir).iterdir()):
        name = truth_path.stem
        labels = next(Path(count_dir).glob(f"{name}_labels.*"))
        t, p = read_array(truth_path).astype(np.int64), read_array(labels).astype(np.int64)
        if t.ndim == 3:
            t = t[..., 0]
        groups[appearance(read_array(next(Path(images_dir).glob(f"{name}.*"))))].append((t, p))
    print(f"{'appearance':<14} {'images':>6} {'prec':>6} {'recall':>6} {'F1@0.5':>7} {'F1@0.75':>8} {'med. count err':>15}")
    for g, pairs in sorted(groups.items()):
        m, strict = matching_dataset(pairs, (0.5, 0.75))
        rel = [count_error(len(np.unique(t[t > 0])), len(np.unique(p[p > 0])))[1] for t, p in pairs]
        rel = [r for r in rel if np.isfinite(r)]
        print(f"{g:<14} {len(pairs):>6} {m.precision:>6.3f} {m.recall:>6.3f} {m.f1:>7.3f} {strict.f1:>8.3f} "
              f"{100 * np.median(rel):>14.1f}%")


if __name__ == "__main__":
    main(*sys.argv[1:4])
