#!/usr/bin/env bash
# Re-train the bundled nuclei model from scratch, as it was made in stop 21: the GPU recipe
# (benchmarks/nuclei/nuclei_gpu.yaml, 21 minutes on one H100 with KERAS_BACKEND=torch; on a CPU the same
# minutes see ~15x fewer patches, so pass a longer --time-limit in TRAIN_ARGS) on the 318 train images of
# dsb2018 and 60 of dsb2018_extra; the other 40 extra images pick nothing but the thresholds (calibrate) and
# are the validation set; the last epoch is kept. Then the dev split is scored and the model copied into the
# package without its optimizer state.
# Stop 23 then continued it 55 minutes on a 2-core CPU with texture and shading augmentation
# (nuclei_texture_ft.yaml) and bundles the mean of the two (the GPU model and the continuation's last epoch).
# Usage: bash benchmarks/nuclei/train_bundled_model.sh [DSB_DIR] [EXTRA_DIR] [OUT]
# (CONFIG=benchmarks/nuclei/nuclei.yaml: the CPU recipe of the model bundled until stop 20.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$(realpath "${1:-$here/../../../shared/data/dsb2018}")
extra=$(realpath "${2:-$here/../../../shared/data/dsb2018_extra}")
out=${3:-runs/nuclei}
bash "$here/link_all_data.sh" "$data" "$extra" "$out"
unetkit train --config "${CONFIG:-$here/nuclei_gpu.yaml}" --images "$out/train/images" --masks "$out/train/masks" \
  --val-files "$(paste -sd, "$out/val_stems.txt")" --out "$out/run" ${TRAIN_ARGS:-}
mkdir -p "$out/pick/images" "$out/pick/masks"
while read -r s; do
  ln -sf "$extra/images/$s.png" "$out/pick/images/$s.png"; ln -sf "$extra/masks/$s.png" "$out/pick/masks/$s.png"
done < "$out/val_stems.txt"
unetkit calibrate --model "$out/run/last.keras" --images "$out/pick/images" --masks "$out/pick/masks" --out "$out/calibrated.keras"
# seeds smoothed 2 px (Gaussian sigma): the pick images score it as unsmoothed (0.793 both), the textured
# stand-in built from them (new_microscope.py) gains 0.555 -> 0.650 F1 (benchmarks/README.md, 19)
python -c "from unetkit.checkpoint import load_model, save_model; m, meta = load_model('$out/calibrated.keras'); \
meta['instances'] = {**meta['instances'], 'smooth': 2.0}; save_model(m, '$out/gpu.keras', meta, with_optimizer=False)"
# stop 23: the texture continuation (55 CPU minutes; it keeps the thresholds and the smoothing), then half and half
# (the GPU model's metadata travels with the mix)
unetkit train --init "$out/gpu.keras" --config "$here/nuclei_texture_ft.yaml" --images "$out/train/images" \
  --masks "$out/train/masks" --val-files "$(paste -sd, "$out/val_stems.txt")" --out "$out/texture"
python "$here/soup.py" "$out/nuclei.keras" "$out/gpu.keras" "$out/texture/last.keras"
SPLITS=watershed bash "$here/evaluate_dev.sh" "$out/nuclei.keras" "$data" "$out"
cp "$out/nuclei.keras" "$here/../../src/unetkit/assets/models/nuclei.keras"
echo "bundled model updated: src/unetkit/assets/models/nuclei.keras"
