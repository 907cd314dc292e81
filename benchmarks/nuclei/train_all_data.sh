#!/usr/bin/env bash
# Train the nuclei recipe (benchmarks/nuclei/nuclei.yaml) from scratch on all the shared nuclei data but dev
# (link_all_data.sh: 318 train + 60 dsb2018_extra images; a seeded 40 of the extra ones pick the checkpoint) for
# MINUTES, with the weights' moving average (--ema ${EMA:-0.999}; EMA=0 turns it off) in the checkpoints.
# DEV=0 (default) stops before dev: choose on the pick images first (score.sh), then score dev once
# (SPLITS=watershed bash benchmarks/nuclei/evaluate_dev.sh MODEL DSB_DIR OUT).
# Usage: bash benchmarks/nuclei/train_all_data.sh [DSB_DIR] [EXTRA_DIR] [OUT] [MINUTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$(realpath "${1:-$here/../../../shared/data/dsb2018}")
extra=$(realpath "${2:-$here/../../../shared/data/dsb2018_extra}")
out=${3:-runs/nuclei_all}
minutes=${4:-60}
bash "$here/link_all_data.sh" "$data" "$extra" "$out"
unetkit train --config "$here/nuclei.yaml" --images "$out/train/images" --masks "$out/train/masks" \
  --val-files "$(paste -sd, "$out/val_stems.txt")" --ema "${EMA:-0.999}" --precision float32 --time-limit "$minutes" --out "$out/run"
[ "${DEV:-0}" = 0 ] && exit 0
echo "== picked epoch"; SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/run/best.keras" "$data" "$out/picked"
echo "== last epoch"; SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/run/last.keras" "$data" "$out/last"
