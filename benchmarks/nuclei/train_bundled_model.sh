#!/usr/bin/env bash
# Re-train the bundled nuclei model from scratch (about 60 minutes on a 2-core CPU), evaluate it on
# the dev split, and copy it into the package. Usage: bash benchmarks/nuclei/train_bundled_model.sh [DATA_DIR] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-$here/../../../shared/data/dsb2018}
out=${2:-runs/nuclei}
python "$here/split.py" "$data"
dev=$(python -c "import json; print(','.join(json.load(open('$here/split.json'))['dev']))")
unetkit train --config "$here/nuclei.yaml" --images "$data/images" --masks "$data/masks" --val-files "$dev" --out "$out/run"
bash "$here/evaluate_dev.sh" "$out/run" "$data" "$out"
cp "$out/run/best.keras" "$here/../../src/unetkit/assets/models/nuclei.keras"
echo "bundled model updated: src/unetkit/assets/models/nuclei.keras"
