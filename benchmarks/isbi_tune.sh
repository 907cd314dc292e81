#!/usr/bin/env bash
# `unetkit tune` on the bundled ISBI slices 00-24 (checkpoints and trials scored on 22-24), killed after
# KILL minutes and resumed for the rest of 20 minutes; then its best config against the default config,
# each trained MINUTES on 00-24 and scored on 25-29 (never seen by the search or the checkpoint choice).
# Each trial trains MINUTES too (TRIAL_MINUTES overrides): a study ranks settings at its trials' budget, and
# 3.3-minute trials picked a wider network that lost at 7 minutes (benchmarks/README.md, section 14).
# Usage: bash benchmarks/isbi_tune.sh [OUT] [MINUTES] [KILL]
set -euo pipefail
out=${1:-runs/isbi_tune}
minutes=${2:-7}
kill_after=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
link=$out/link   # isbi_30min.sh lays out the slices; a 0-minute budget is not allowed, so split here
assets=$(python -c "from unetkit.data.bundled import isbi2012; print(*isbi2012())")
read -r images masks <<< "$assets"
mkdir -p "$link/train_images" "$link/train_masks"
for i in $(seq -w 0 24); do
  ln -sf "$images/$i.png" "$link/train_images/$i.png"; ln -sf "$masks/$i.png" "$link/train_masks/$i.png"
done
study=(unetkit tune --images "$link/train_images" --masks "$link/train_masks" --val-range 22:25 --out "$out/study"
       --trial-minutes "${TRIAL_MINUTES:-$minutes}")
start=$(date +%s)
timeout --signal=KILL "$((kill_after * 60))" "${study[@]}" --time-limit 20 || echo "[bench] tune killed after $kill_after min"
spent=$(( ($(date +%s) - start) / 60 ))
"${study[@]}" --time-limit "$((20 - spent))"
bash "$here/isbi_30min.sh" "$out/default" "$minutes"
EXTRA="--config $out/study/best.yaml" bash "$here/isbi_30min.sh" "$out/tuned" "$minutes"
