"""The fixed DSB 2018 dev split: a seeded 80/20 split of the 398 shared samples.

Everything tuned for the nuclei model is tuned on 'train' and checked on 'dev'; nothing else.
Usage: python benchmarks/nuclei/split.py [DATA_DIR]  -> prints the dev stems, writes split.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_split(data_dir) -> dict:
    stems = sorted(p.stem for p in Path(data_dir, "images").glob("*.png"))
    perm = np.random.default_rng(2018).permutation(len(stems))
    n_dev = round(0.2 * len(stems))
    dev = sorted(stems[i] for i in perm[:n_dev])
    return {"seed": 2018, "train": sorted(set(stems) - set(dev)), "dev": dev}


if __name__ == "__main__":
    data = sys.argv[1] if len(sys.argv) > 1 else str(HERE.parents[2] / "shared" / "data" / "dsb2018")
    split = make_split(data)
    (HERE / "split.json").write_text(json.dumps(split, indent=1))
    print(f"{len(split['train'])} train, {len(split['dev'])} dev -> {HERE / 'split.json'}")
