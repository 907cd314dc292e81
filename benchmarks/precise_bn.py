"""Are a checkpoint's batch-norm statistics what holds its validation score back?

A run's checkpoint predicts with batch norm's moving statistics: an exponential average of the last
~1 / (1 - momentum) training batches (10 at unetkit's 0.9). With few patches per batch from images
that differ (DSB 2018 mixes fluorescence, brightfield and H&E), that average is noisy. Here the
checkpoint's statistics are recomputed as a plain average over N training batches, weights fixed
("precise BN", as in pycls / Detectron), and the validation score is compared before and after.

Usage: python benchmarks/precise_bn.py RUN_DIR [--model last.keras] [--batches 200]
"""
import argparse
import math
from pathlib import Path

import keras

from unetkit.checkpoint import load_model
from unetkit.config import from_dict
from unetkit.data.pairs import pair_folders, split_pairs
from unetkit.data.sampling import PatchDataset, TileDataset
from unetkit.losses import get_loss
from unetkit.tensor_metrics import TRAINING_METRICS
from unetkit.training_data import add_weight_maps, read_pairs, to_samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--model", default="last.keras")
    ap.add_argument("--batches", type=int, default=200)
    a = ap.parse_args()
    import yaml
    run = Path(a.run)
    cfg = from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    keras.utils.set_random_seed(cfg.train.seed)
    model, meta = load_model(run / a.model)
    loss_fn, needs_weights = get_loss(cfg.train.loss)
    model.compile(loss=loss_fn, metrics=list(TRAINING_METRICS))
    pairs = pair_folders(cfg.data.images, cfg.data.masks)
    train_pairs, val_pairs = split_pairs(pairs, val_range=cfg.data.val_range, val_files=cfg.data.val_files,
                                         val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    channels = int(meta["channels"])
    tr = to_samples(read_pairs(train_pairs, cfg), cfg, channels)
    va = to_samples(read_pairs(val_pairs, cfg), cfg, channels)
    if needs_weights:
        add_weight_maps(tr, va, cfg)
    val_ds = TileDataset(va, size=cfg.data.patch_size, batch_size=cfg.train.batch_size)
    before = model.evaluate(val_ds, verbose=0, return_dict=True)
    ds = PatchDataset(tr, size=cfg.data.patch_size, batch_size=cfg.train.batch_size, steps=a.batches,
                      augment=cfg.augment, seed=cfg.train.seed + 1, balance=cfg.data.balance)
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for k in range(a.batches):
        for layer in norms:          # momentum k / (k + 1): the moving statistics become the mean over batches
            layer.momentum = k / (k + 1)
        model(ds[k][0], training=True)
    after = model.evaluate(val_ds, verbose=0, return_dict=True)
    print(f"{run / a.model}: {len(norms)} batch-norm layers, statistics from {a.batches} training batches")
    for key in ("mean_iou", "loss", "dice"):
        if key in before and math.isfinite(before[key]):
            print(f"  val {key}: moving statistics {before[key]:.4f} -> averaged {after[key]:.4f}")


if __name__ == "__main__":
    main()
