#!/usr/bin/env bash
# ISBI 2012: default config, slices 00-24 for training, 30 minutes of CPU training, then predict
# and evaluate slices 25-29. Checkpoints are chosen on slices 22-24, so 25-29 stay unseen until scored.
# Usage: bash benchmarks/isbi_30min.sh [OUT] [MINUTES]   (EXTRA="--model resunet --seed 1" adds train options)
set -euo pipefail
out=${1:-runs/isbi30}
minutes=${2:-30}
assets=$(python -c "from unetkit.data.bundled import isbi2012; print(*isbi2012())")
read -r images masks <<< "$assets"
mkdir -p "$out/train_images" "$out/train_masks" "$out/test_images" "$out/test_masks"
for i in $(seq -w 0 29); do
  part=train; [ "$i" -ge 25 ] && part=test
  ln -sf "$images/$i.png" "$out/${part}_images/$i.png"; ln -sf "$masks/$i.png" "$out/${part}_masks/$i.png"
done
timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)
"${timer[@]}" unetkit train --images "$out/train_images" --masks "$out/train_masks" --val-range 22:25 --time-limit "$minutes" \
  --epochs 100000 --early-stopping 0 --out "$out/run" ${EXTRA:-} 2> >(grep -E "Maximum resident|Elapsed|rror" >&2)
unetkit predict "$out/test_images" --model "$out/run" --out "$out/pred" --quiet
unetkit evaluate --pred "$out/pred" --truth "$out/test_masks"
