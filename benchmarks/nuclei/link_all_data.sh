#!/usr/bin/env bash
# The training folder of all the shared nuclei data but the dev split, as symbolic links: OUT/train/{images,masks}
# holds the 318 train images of dsb2018 and the 100 of dsb2018_extra; OUT/val_stems.txt names a seeded $VAL_EXTRA
# (default 40) of the extra images, which pick the checkpoint (train --val-files) and which no bundled model trained
# on. Dev is never in it. Usage: bash benchmarks/nuclei/link_all_data.sh DSB_DIR EXTRA_DIR OUT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$(realpath "$1"); extra=$(realpath "$2"); out=$3
mkdir -p "$out/train/images" "$out/train/masks"
for s in $(python -c "import json; print(' '.join(json.load(open('$here/split.json'))['train']))"); do
  ln -sf "$data/images/$s.png" "$out/train/images/$s.png"; ln -sf "$data/masks/$s.png" "$out/train/masks/$s.png"
done
for f in "$extra"/images/*.png; do
  s=$(basename "$f"); ln -sf "$f" "$out/train/images/$s"; ln -sf "$extra/masks/$s" "$out/train/masks/$s"
done
python "$here/pick_stems.py" "$extra" "${VAL_EXTRA:-40}" > "$out/val_stems.txt"
