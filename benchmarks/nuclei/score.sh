#!/usr/bin/env bash
# Count a list of nuclei images with a model (`count` defaults) and score the instances against their masks:
# F1 at IoU 0.5 and 0.75, median count error. Usage:
#   bash benchmarks/nuclei/score.sh MODEL DATA_DIR STEMS_FILE OUT
# DATA_DIR holds images/ and masks/ (same names); STEMS_FILE lists one file stem per line. COUNT_ARGS (e.g. --tta)
# go to `unetkit count`.
set -euo pipefail
model=$1; data=$2; stems=$3; out=$4
rm -rf "$out"; mkdir -p "$out/images" "$out/truth"
while read -r s; do
  [ -n "$s" ] || continue
  ln -s "$(realpath "$data/images/$s.png")" "$out/images/$s.png"
  ln -s "$(realpath "$data/masks/$s.png")" "$out/truth/$s.png"
done < "$stems"
unetkit count "$out/images" --model "$model" --out "$out/count" --quiet ${COUNT_ARGS:-}
unetkit evaluate --instances --pred "$out/count" --truth "$out/truth" | grep -E "^ 0.50|^ 0.75|count error|errors at"
