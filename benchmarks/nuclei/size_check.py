"""The inputs of count's size check (diameter.first_look_grows) for each image: the first look's object diameter
(with TTA, as count looks), and where it is below or in the model's band, the probe's big size, whether every probe
agrees on it (``sure``) and, where the probe found one, how much the first look's size grows one rung coarser and
whether count rescales. Only images that reach the check can change with its bars (GROWTH_SMALL, GROWTH_SURE,
GROWTH); one JSON line per image.

Usage: python benchmarks/nuclei/size_check.py IMAGE [IMAGE ...]
"""
import json
import sys

from unetkit import diameter as D
from unetkit.config import PredictConfig
from unetkit.instances import instance_settings
from unetkit.io import read_array
from unetkit.predictor import Predictor


def main(paths):
    p = Predictor.load("nuclei", PredictConfig(tta=True))
    icfg, trained = instance_settings(p.meta), p.meta["diameter"]
    quick = D.without_tta(p)
    for path in paths:
        x = p.prepare(read_array(path))
        _, found, _ = D.labels_at_scale(p, x, p.scale, icfg)
        row = {"image": path, "found": found}
        if found is not None and found * p.scale <= trained * D.BAND:   # small or in band: the check can matter
            sizes = D.probe_sizes(p, x, icfg)
            row.update(big=D.large_size(sizes, p.scale, trained), sure=bool(D.all_agree(sizes)))
            if row["big"] is not None:
                coarser = D.labels_at_scale(quick, x, p.scale * D.STEP, icfg)[1]
                row["growth"] = None if coarser is None else coarser / found
                row["rescaled"] = D.first_look_grows(p, x, icfg, found, trained, sure=row["sure"])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
