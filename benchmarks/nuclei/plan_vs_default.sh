#!/usr/bin/env bash
# DSB 2018 nuclei: `unetkit train` as planned (the default now) against the defaults without the plan
# (--no-plan), the same MINUTES each, checkpoints chosen on the dev split (as the bundled model's), scored
# on dev with count's defaults (seeded watershed).
# Usage: bash benchmarks/nuclei/plan_vs_default.sh [DATA_DIR] [OUT] [MINUTES]   (VARIANTS=planned: one of them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-$here/../../../shared/data/dsb2018}
out=${2:-runs/nuclei_plan}
minutes=${3:-10}
dev=$(python -c "import json; print(','.join(json.load(open('$here/split.json'))['dev']))")
for variant in ${VARIANTS:-planned unplanned}; do
  flag=(); [ "$variant" = unplanned ] && flag=(--no-plan)
  unetkit train --images "$data/images" --masks "$data/masks" --mask-mode instances --val-files "$dev" \
    --time-limit "$minutes" --epochs 100000 --early-stopping 0 --out "$out/$variant/run" "${flag[@]}"
  echo "== $variant"
  SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/$variant/run" "$data" "$out/$variant"
done
