"""The bundled demos: ISBI 2012 membranes (default) and synthetic cells.

``isbi``: train a light U-Net on slices 00-24 for a few minutes, predict 25-29 at
full resolution, evaluate (V_rand, mean IoU, ...) and draw curves and a grid.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .config import RunConfig
from .data.bundled import isbi2012
from .data.io import write_text
from .data.pairs import pair_folders
from .errors import UnetkitError


def demo_config(images, masks, minutes: float) -> RunConfig:
    cfg = RunConfig()
    cfg.data.images, cfg.data.masks = str(images), str(masks)
    cfg.train.time_limit = minutes
    cfg.train.epochs = 1000  # the time limit ends the run
    return cfg


def run_demo(out_dir=None, *, kind: str = "isbi", minutes: float = 7.0, verbose: bool = True) -> dict:
    from .evaluate import evaluate_folders
    from .predict import predict
    from .train import train

    t0 = time.time()
    out = Path(out_dir) if out_dir else Path(f"unetkit-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and any(out.iterdir()):
        raise UnetkitError(f"{out}: folder is not empty; choose another --out")
    if kind == "isbi":
        images, masks = isbi2012()
        cfg = demo_config(images, masks, minutes)
        cfg.data.val_range = "25:30"
    elif kind == "synthetic":
        from .data.synthetic import write_dataset
        data = out / "data"
        images, masks = write_dataset(data, n=24, size=256, seed=0)
        cfg = demo_config(images, masks, minutes)
        cfg.data.val_range = "20:24"
    else:
        raise UnetkitError(f"unknown demo {kind!r}: use isbi or synthetic")
    result = train(cfg, out / "run", verbose=None if verbose else 0)
    pairs = pair_folders(cfg.data.images, cfg.data.masks)
    val = [p for p in pairs if p.name in set(json.loads((out / "run" / "summary.json").read_text())["val"])]
    with tempfile.TemporaryDirectory() as tmp:
        # link the held-out truth into one folder so evaluate() pairs them by name
        truth_dir = Path(tmp)
        for p in val:
            (truth_dir / p.mask.name).symlink_to(p.mask.resolve())
        predict(result.best_path, [p.image for p in val], out / "predictions", verbose=verbose)
        summary = evaluate_folders(out / "predictions", truth_dir, out_dir=out, images_dir=cfg.data.images,
                                   verbose=verbose)
    summary["total_seconds"] = round(time.time() - t0, 1)
    write_text(out / "demo.json", json.dumps(summary, indent=1))
    if verbose:
        print(f"[unetkit] demo finished in {summary['total_seconds'] / 60:.1f} min: V_rand "
              f"{summary.get('v_rand', float('nan')):.3f}, mean IoU {summary['mean_iou']:.3f}")
        print(f"[unetkit] results in {out.resolve()}: grid.png, run/curves.png, evaluation.csv, predictions/")
    return summary
