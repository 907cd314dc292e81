#!/usr/bin/env bash
# PH2 skin lesions (RGB): default config, seeded random 80/20 split of the 90 shared images,
# MINUTES of CPU training, then predict and evaluate the held-out 20%.
# Usage: bash benchmarks/skin.sh [DATA_DIR] [OUT] [MINUTES]
set -euo pipefail
data=${1:-../shared/data/skin}
out=${2:-runs/skin}
minutes=${3:-10}
unetkit train --images "$data/images" --masks "$data/masks" --val-fraction 0.2 --seed 0 --time-limit "$minutes" \
  --epochs 100000 --early-stopping 0 --out "$out/run"
mkdir -p "$out/val_images" "$out/val_masks"
for s in $(python -c "import json; print(' '.join(json.load(open('$out/run/summary.json'))['val']))"); do
  ln -sf "$(realpath "$data/images/$s.png")" "$out/val_images/$s.png"
  ln -sf "$(realpath "$data/masks/$s.png")" "$out/val_masks/$s.png"
done
unetkit predict "$out/val_images" --model "$out/run" --out "$out/pred" --quiet
unetkit evaluate --pred "$out/pred" --truth "$out/val_masks"
