#!/usr/bin/env bash
# PH2 skin lesions (RGB): `unetkit train` with no options beyond the split (planned; EXTRA="--no-plan" for the plain defaults). A seeded 20% of the 90 shared images is the test set,
# never seen in training; of the rest, 15% picks the checkpoint. MINUTES of CPU training, then
# predict and evaluate the test set.
# Usage: bash benchmarks/skin.sh [DATA_DIR] [OUT] [MINUTES]   (EXTRA="--model resunet" adds train options)
set -euo pipefail
data=${1:-../shared/data/skin}
out=${2:-runs/skin}
minutes=${3:-10}
mkdir -p "$out/train_images" "$out/train_masks" "$out/test_images" "$out/test_masks"
python - "$data" "$out" <<'PY'
import os, sys
from pathlib import Path
import numpy as np
data, out = Path(sys.argv[1]), Path(sys.argv[2])
stems = sorted(p.stem for p in (data / "images").iterdir())
test = set(np.random.default_rng(0).permutation(stems)[: round(0.2 * len(stems))])
for s in stems:
    part = "test" if s in test else "train"
    for kind in ("images", "masks"):
        src = next((data / kind).glob(f"{s}.*")).resolve()
        dst = out / f"{part}_{kind}" / src.name
        if not dst.exists():
            os.symlink(src, dst)
print(f"{len(stems) - len(test)} train, {len(test)} test")
PY
unetkit train --images "$out/train_images" --masks "$out/train_masks" --val-fraction 0.15 --seed 0 \
  --time-limit "$minutes" --epochs 100000 --early-stopping 0 --out "$out/run" ${EXTRA:-}
unetkit predict "$out/test_images" --model "$out/run" --out "$out/pred" --quiet
unetkit evaluate --pred "$out/pred" --truth "$out/test_masks"
