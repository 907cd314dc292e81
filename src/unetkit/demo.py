"""The bundled demos: ISBI 2012 membranes (default) and synthetic cells.

``isbi``: train a light U-Net on slices 00-24 for a few minutes, predict 25-29 at
full resolution, evaluate (V_rand, mean IoU, ...) and draw curves and a grid.

The demo predicts with flip TTA (the mean over the four flips, as nnU-Net mirrors by
default): on membranes it closes the one-pixel gaps that merge cells, which V_rand
punishes (benchmarks/README.md section 10, stop 18: 0.925 -> 0.961 for the same
7-minute float32 model), at 4x a prediction that takes seconds here.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .config import RunConfig
from .data.bundled import isbi2012
from .io import write_text
from .data.pairs import pair_folders
from .errors import UnetkitError


def demo_config(images, masks, minutes: float, precision: str = "auto") -> RunConfig:
    cfg = RunConfig()
    cfg.train.precision = precision
    cfg.data.images, cfg.data.masks = str(images), str(masks)
    cfg.train.time_limit = minutes
    cfg.train.epochs = 1000  # the time limit ends the run
    return cfg


def run_demo(out_dir=None, *, kind: str = "isbi", minutes: float = 7.0, verbose: bool = True,
             precision: str = "auto", tta: bool = True) -> dict:
    from .config import PredictConfig
    from .evaluation import evaluate_folders
    from .prediction import predict
    from .training import train

    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        raise UnetkitError(f"--minutes {minutes}: the demo's training budget, minutes > 0 (default 7)")
    t0 = time.time()
    out = Path(out_dir) if out_dir else Path(f"unetkit-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and any(out.iterdir()):
        raise UnetkitError(f"{out}: folder is not empty; choose another --out")
    if kind == "isbi":
        # slices 00-24 train (22-24 held out to pick checkpoints); 25-29 stay unseen until scored
        images, masks = isbi2012()
        data = out / "data"
        for i, p in enumerate(pair_folders(images, masks)):
            part = "" if i < 25 else "test_"
            for src, sub in ((p.image, "images"), (p.mask, "masks")):
                (data / f"{part}{sub}").mkdir(parents=True, exist_ok=True)
                shutil.copy(src, data / f"{part}{sub}" / src.name)
        cfg = demo_config(data / "images", data / "masks", minutes, precision)
        cfg.data.val_range = "22:25"
        test_images, test_masks = data / "test_images", data / "test_masks"
    elif kind == "synthetic":
        from .data.synthetic import write_dataset
        data = out / "data"
        images, masks = write_dataset(data, n=24, size=256, seed=0)
        test_images, test_masks = write_dataset(data / "test", n=6, size=256, seed=1)
        cfg = demo_config(images, masks, minutes, precision)
        cfg.data.val_range = "20:24"
    else:
        raise UnetkitError(f"unknown demo {kind!r}: use isbi or synthetic")
    result = train(cfg, out / "run", verbose=None if verbose else 0)
    predict(result.best_path, [test_images], out / "predictions", PredictConfig(tta=tta), verbose=verbose)
    summary = evaluate_folders(out / "predictions", test_masks, out_dir=out, images_dir=test_images,
                               verbose=verbose)
    summary["tta"] = tta
    summary["total_seconds"] = round(time.time() - t0, 1)
    write_text(out / "demo.json", json.dumps(summary, indent=1))
    if verbose:
        isbi = (f"V_rand {summary['v_rand_isbi']:.3f} (ISBI 2012 protocol, threshold {summary['isbi_threshold']}; "
                f"{summary['v_rand']:.3f} at the mask threshold; flip TTA {'on' if tta else 'off'}), "
                if "v_rand_isbi" in summary else "")
        print(f"[unetkit] demo finished in {summary['total_seconds'] / 60:.1f} min on held-out images: "
              f"{isbi}mean IoU {summary['mean_iou']:.3f}, accuracy {summary['accuracy']:.3f}")
        print(f"[unetkit] results in {out.resolve()}: grid.png, run/curves.png, evaluation.csv, predictions/")
    return summary
