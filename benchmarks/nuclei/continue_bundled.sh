#!/usr/bin/env bash
# Continue training the bundled nuclei model on all the shared nuclei data but the dev split: the 318 train
# images of dsb2018 and the 100 of dsb2018_extra, checkpoints picked on a seeded $VAL_EXTRA (default 40) of the
# extra images, which the bundled model never trained on either (until stop 17 a seeded tenth of all 418 picked,
# three quarters of them the bundled model's own training images: its start score there was inflated), never on
# dev; the bundled recipe (benchmarks/nuclei/nuclei.yaml) at a lower rate (3e-4 or $LR, cosine; warm-up $WARMUP)
# for MINUTES. Since stop 18 `train --init` ends by averaging the picked epoch's weights half and half with the
# bundled model's (--mix 0.5 of the finetune preset; MIX=1 turns it off): best.keras is that average, the picked
# epoch alone is run/finetuned.keras. Then the dev split scored with `count` defaults for best.keras and for the
# last epoch's weights.
# SCHEDULE=constant keeps the rate; EMA=0.999 (say) checkpoints the weights' moving average (train --ema).
# DEV=0 stops before dev. The pick stems are written to OUT/val_stems.txt (benchmarks/nuclei/score.sh scores models on them).
# Usage: bash benchmarks/nuclei/continue_bundled.sh [DSB_DIR] [EXTRA_DIR] [OUT] [MINUTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$(realpath "${1:-$here/../../../shared/data/dsb2018}")
extra=$(realpath "${2:-$here/../../../shared/data/dsb2018_extra}")
out=${3:-runs/nuclei_continue}
minutes=${4:-60}
bash "$here/link_all_data.sh" "$data" "$extra" "$out"
unetkit train --init nuclei --config "$here/nuclei.yaml" --images "$out/train/images" --masks "$out/train/masks" \
  --val-files "$(paste -sd, "$out/val_stems.txt")" --lr "${LR:-3e-4}" --mix "${MIX:-0.5}" --warmup "${WARMUP:-0}" --lr-schedule "${SCHEDULE:-cosine}" --ema "${EMA:-0}" --time-limit "$minutes" --out "$out/run"
[ "${DEV:-1}" = 0 ] && exit 0  # DEV=0: leave dev unscored (choose first on the pick images, score.sh)
echo "== picked epoch"; SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/run/best.keras" "$data" "$out/picked"
echo "== last epoch"; SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/run/last.keras" "$data" "$out/last"
