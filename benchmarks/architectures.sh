#!/usr/bin/env bash
# Architectures side by side, same time budget each: the ISBI 2012 demo protocol (train 00-21, pick the
# checkpoint on 22-24, score 25-29) and the PH2 split of skin.sh (18 seeded test images).
# Usage: bash benchmarks/architectures.sh OUT MINUTES "SEEDS" "ARCHS" [SKIN_DIR]
#   e.g. bash benchmarks/architectures.sh runs/arch 7 "0 1" "unet_light resunet attention_unet unet_light+distance"
# An arch written NAME+distance trains NAME with the multi-task distance head (--aux distance).
set -euo pipefail
out=${1:-runs/arch}; minutes=${2:-7}; seeds=${3:-0}; archs=${4:-"unet_light resunet attention_unet"}
skin=${5:-../shared/data/skin}
here=$(dirname "$0")
for arch in $archs; do
  name=${arch%%+*}; extra="--model $name"
  [ "$arch" != "$name" ] && extra="$extra --aux ${arch#*+}"
  for seed in $seeds; do
    EXTRA="$extra --seed $seed" bash "$here/isbi_30min.sh" "$out/isbi_${arch}_$seed" "$minutes" > "$out.isbi_${arch}_$seed.log" 2>&1 || echo "isbi $arch $seed failed"
    EXTRA="$extra --seed $seed" bash "$here/skin.sh" "$skin" "$out/skin_${arch}_$seed" "$minutes" > "$out.skin_${arch}_$seed.log" 2>&1 || echo "skin $arch $seed failed"
  done
done
python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'run':<40} {'V_rand ISBI':>11} {'mean IoU':>9} {'lesion IoU':>10} {'epochs':>7}")
for pred in sorted(out.glob("*/pred/evaluation.json")):
    s = json.loads(pred.read_text())["mean_over_images"]
    summary = json.loads((pred.parent.parent / "run" / "summary.json").read_text())
    isbi = pred.parent.parent.name.startswith("isbi")
    print(f"{pred.parent.parent.name:<40} {s.get('v_rand_isbi', float('nan')) if isbi else float('nan'):>11.4f} "
          f"{s['mean_iou']:>9.4f} {float('nan') if isbi else s['iou_1']:>10.4f} {summary.get('epochs', '?'):>7}")
PY
