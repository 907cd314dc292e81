"""Is the object size still a lever on dev? Each annotated image labelled at the scale that brings its true median
nucleus to the model's training diameter (an oracle `count` cannot have), against `count`'s own choice cached by
`count_variants.py cache`. Prints pooled F1 at IoU 0.5 and 0.75 over all images and over those `count` left at
their size (benchmarks/README.md, 22).

    python benchmarks/nuclei/oracle_scale.py CACHE IMAGES [MODEL]
"""
import sys
from pathlib import Path

import numpy as np

from unetkit.config import COUNT_TTA, PredictConfig
from unetkit.diameter import labels_at_scale, median_diameter, to_shape
from unetkit.instances import instance_settings, instances_from_probs
from unetkit.io import open_image
from unetkit.matching import matching_dataset
from unetkit.planes import AxisChoice, select
from unetkit.prediction import load_plane
from unetkit.predictor import Predictor


def f1(rows, which: str) -> list[float]:
    return [round(m.f1, 3) for m in matching_dataset([(r["truth"], r[which]) for r in rows], (0.5, 0.75))]


def main(cache: str, images: str, model: str = "nuclei") -> None:
    predictor = Predictor.load(model, PredictConfig(tta=COUNT_TTA))
    icfg, trained = instance_settings(predictor.meta), predictor.meta["diameter"]
    rows = []
    for f in sorted(p for p in Path(cache).glob("*.npz") if not p.name.endswith(".views.npz")):
        z = np.load(f)
        stem, truth = f.name[:-4], z["truth"]
        found, _ = median_diameter(truth)
        oracle = trained / found if found else 1.0
        path = next(Path(images).glob(stem + ".*"))
        _, x, _ = load_plane(predictor, select(open_image(path), predictor.channels, AxisChoice()), path)
        rows.append({"truth": truth, "scale": float(z["scale"]),
                     "count": to_shape(instances_from_probs(z["probs"].astype(np.float32), icfg), tuple(z["shape"])),
                     "oracle": labels_at_scale(predictor, x, oracle, icfg)[0].labels})
        print(f"{stem[:8]}: count x{float(z['scale']):.2f}, oracle x{oracle:.2f}", flush=True)
    as_is = [r for r in rows if r["scale"] == 1.0]
    for name, part in (("all", rows), ("left at their size by count", as_is)):
        print(f"{name} ({len(part)}): F1 @ 0.5 / 0.75 count {f1(part, 'count')}, oracle {f1(part, 'oracle')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
