"""Training throughput and prediction time: unetkit's `unet` against the seeds' layer-by-layer model.

Both are the seeds' size (64 base filters, 1 channel, 256x256, batch 2), timed in the same process:
- training: images/s over timed steps after warm-up, each model trained as it would be
  (ours: unetkit's PatchDataset + pixel-weighted BCE on the 2-channel target; seeds': keras BCE on arrays);
- prediction, ms per megapixel of a 1024x1024 image: both models on the same 16 plain 256x256 tiles
  (model speed alone), and ours through the full overlap-tile pipeline (mirror padding, tile 512,
  overlap 64: it computes about twice the pixels, the price of seam-free output);
- ours in float32 against mixed bfloat16.

Usage: python benchmarks/speed.py [--steps 8] [--rounds 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from unetkit.data.augment import AugmentConfig  # noqa: E402
from unetkit.data.sampling import PatchDataset, Sample  # noqa: E402
from unetkit.data.synthetic import random_cells  # noqa: E402
from unetkit.losses import cross_entropy  # noqa: E402
from unetkit.models import build  # noqa: E402
from unetkit.models.reference import seed_unet  # noqa: E402
from unetkit.tiling import predict_tiled  # noqa: E402

SIZE, BATCH = 256, 2


def samples(n=8):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img, lab = random_cells(512, 30, rng=rng)
        out.append(Sample(str(i), img[..., None].astype(np.float32) / 255, (lab > 0).astype(np.uint8)))
    return out


def fit_seconds(model, data, steps):
    """Seconds per step of one model.fit over ``steps`` steps (the model is already warm)."""
    t = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - t) / steps


def ours(precision, steps, train_samples, workers=0):
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    m = build("unet", input_channels=1)
    m.compile(optimizer=keras.optimizers.Adam(1e-4), loss=cross_entropy)
    loader = {"workers": workers, "use_multiprocessing": False} if workers else {}
    ds = PatchDataset(train_samples, size=SIZE, batch_size=BATCH, steps=steps, augment=AugmentConfig(), **loader)
    m.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: graph tracing
    return m, ds


def seeds(steps):
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    m = seed_unet((SIZE, SIZE, 1))
    m.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * steps, SIZE, SIZE, 1), dtype=np.float32)
    y = (rng.random(x.shape) > 0.5).astype(np.float32)

    class Arrays(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, i):
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

    data = Arrays()
    m.fit(data, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: graph tracing
    return m, data


def plain_tiles(model, img):
    """Predict non-overlapping SIZE x SIZE tiles, BATCH at a time (no padding, no blending)."""
    tiles = np.stack([img[y:y + SIZE, x:x + SIZE] for y in range(0, img.shape[0], SIZE)
                      for x in range(0, img.shape[1], SIZE)])
    return [model.predict_on_batch(tiles[i:i + BATCH]) for i in range(0, len(tiles), BATCH)]


def predict_ms(fn, img):
    t = time.perf_counter()
    fn(img)
    return (time.perf_counter() - t) * 1000 / (img.shape[0] * img.shape[1] / 1e6)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8, help="training steps per timed round")
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed rounds; the models take turns each round and the median counts, "
                         "so a burst of load on the machine hits all of them alike")
    ap.add_argument("--workers", type=int, default=0,
                    help="threads preparing our augmented batches while the model trains (0: in line)")
    ap.add_argument("--json")
    args = ap.parse_args()
    res = {"machine": f"{cpu_name()}, {os.cpu_count()} cores", "backend": keras.backend.backend(),
           "size": SIZE, "batch": BATCH, "steps": args.steps, "rounds": args.rounds, "workers": args.workers}

    models = {"seed": seeds(args.steps), "ours_fp32": ours("float32", args.steps, samples(), args.workers),
              "ours_bf16": ours("mixed_bfloat16", args.steps, samples(), args.workers)}
    img = np.random.default_rng(1).random((1024, 1024, 1), dtype=np.float32)
    predictors = {}
    for key, (model, _) in models.items():
        predictors[f"{key}_predict_ms_per_mp"] = (lambda m: lambda im: plain_tiles(m, im))(model)
        if key != "seed":
            predictors[f"{key}_overlap_tile_ms_per_mp"] = (lambda m: lambda im: predict_tiled(
                m.predict_on_batch, im, tile=512, overlap=64, batch_size=BATCH))(model)
    for fn in predictors.values():
        fn(img)  # warm-up: graph tracing

    times = {k: [] for k in [f"{m}_train_img_s" for m in models] + list(predictors)}
    for r in range(args.rounds):
        for key, (model, data) in models.items():
            times[f"{key}_train_img_s"].append(BATCH / fit_seconds(model, data, args.steps))
        for key, fn in predictors.items():
            times[key].append(predict_ms(fn, img))
        print(f"[round {r + 1}/{args.rounds}] " + ", ".join(
            f"{k} {v[-1]:.2f}" for k, v in times.items()), flush=True)
    res.update({k: float(np.median(v)) for k, v in times.items()})

    res["train_ratio_ours_fp32_vs_seed"] = res["ours_fp32_train_img_s"] / res["seed_train_img_s"]
    res["train_ratio_ours_bf16_vs_seed"] = res["ours_bf16_train_img_s"] / res["seed_train_img_s"]
    res["predict_ratio_seed_vs_ours_fp32"] = res["seed_predict_ms_per_mp"] / res["ours_fp32_predict_ms_per_mp"]
    res["predict_ratio_seed_vs_ours_bf16"] = res["seed_predict_ms_per_mp"] / res["ours_bf16_predict_ms_per_mp"]
    for key in ("fp32", "bf16"):
        res[f"predict_ratio_seed_plain_vs_ours_overlap_tile_{key}"] = (
            res["seed_predict_ms_per_mp"] / res[f"ours_{key}_overlap_tile_ms_per_mp"])
    for k, v in res.items():
        print(f"{k:36s} {v:.3f}" if isinstance(v, float) else f"{k:36s} {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
