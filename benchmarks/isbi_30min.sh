#!/usr/bin/env bash
# ISBI 2012: default config, slices 00-24 for training, 30 minutes of CPU training, then predict
# and evaluate slices 25-29. Usage: bash benchmarks/isbi_30min.sh [OUT] [MINUTES]
set -euo pipefail
out=${1:-runs/isbi30}
minutes=${2:-30}
assets=$(python -c "from unetkit.data.bundled import isbi2012; print(*isbi2012())")
read -r images masks <<< "$assets"
mkdir -p "$out/val_images" "$out/val_masks"
for i in 25 26 27 28 29; do
  ln -sf "$images/$i.png" "$out/val_images/$i.png"; ln -sf "$masks/$i.png" "$out/val_masks/$i.png"
done
/usr/bin/time -v unetkit train --images "$images" --masks "$masks" --val-range 25:30 --time-limit "$minutes" \
  --epochs 100000 --early-stopping 0 --out "$out/run" 2> >(grep -E "Maximum resident|Elapsed" >&2)
unetkit predict "$out/val_images" --model "$out/run" --out "$out/pred" --quiet
unetkit evaluate --pred "$out/pred" --truth "$out/val_masks"
