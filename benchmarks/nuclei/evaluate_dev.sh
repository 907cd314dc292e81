#!/usr/bin/env bash
# Count the dev split with a model and score it: watershed (default), connected components, and the
# seeds' Canny/findContours count, all on the same predictions' model.
# Usage: bash benchmarks/nuclei/evaluate_dev.sh MODEL [DATA_DIR] [OUT]   (SPLITS=watershed: that row only;
# COUNT_ARGS, e.g. --tta, go to `unetkit count`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$1
data=${2:-$here/../../../shared/data/dsb2018}
out=${3:-runs/nuclei}
rm -rf "$out/dev_images" "$out/dev_truth"; mkdir -p "$out/dev_images" "$out/dev_truth"
for s in $(python -c "import json; print(' '.join(json.load(open('$here/split.json'))['dev']))"); do
  ln -s "$(realpath "$data/images/$s.png")" "$out/dev_images/$s.png"
  ln -s "$(realpath "$data/masks/$s.png")" "$out/dev_truth/$s.png"
done
for split in ${SPLITS:-watershed components canny}; do
  rm -rf "$out/count_$split"
  unetkit count "$out/dev_images" --model "$model" --out "$out/count_$split" --split "$split" --quiet ${COUNT_ARGS:-}
  echo "== $split"
  unetkit evaluate --instances --pred "$out/count_$split" --truth "$out/dev_truth" | grep -E "^ 0.50|^ 0.75|count error|errors at"
done
