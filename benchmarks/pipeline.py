"""What the input pipeline costs: the training step through unetkit's pipeline against the
model's raw step on in-memory arrays, same network, batch and precision, in one run.

  raw       model.train_on_batch on fixed arrays, plain Keras BCE, no metrics;
  inline    unetkit's PatchDataset (random 256 px patches of the ISBI slices, the paper's elastic
            and affine augmentation, intensity changes) + its loss and metrics, prepared in line;
  threads   the same with the loader threads training uses by default (parallel.loader_workers).
Also the process's CPU use (user + system seconds per wall second: 2.0 = both cores busy).
``--jit`` (XLA, Keras' ``jit_compile``: auto = on for TensorFlow) and ``--steps-per-execution``
(steps run inside one compiled call) apply to every row, so their effect is measured on the raw
step and on the pipeline alike; ``--compare-jit`` times the raw step with XLA on and off as well.

Usage: python benchmarks/pipeline.py [--steps 20] [--models unet_light,unet] [--precisions float32,mixed_bfloat16]
                                     [--jit auto|on|off] [--steps-per-execution 1] [--compare-jit]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from unetkit.config import AugmentConfig, RunConfig  # noqa: E402
from unetkit.data.bundled import isbi2012  # noqa: E402
from unetkit.data.pairs import load_pair, pair_folders  # noqa: E402
from unetkit.data.prepare import prepare  # noqa: E402
from unetkit.data.sampling import PatchDataset, Sample  # noqa: E402
from unetkit.data.targets import make_targets  # noqa: E402
from unetkit.losses import cross_entropy  # noqa: E402
from unetkit.models import build  # noqa: E402
from unetkit.parallel import loader_workers  # noqa: E402
from unetkit.tensor_metrics import TRAINING_METRICS  # noqa: E402
from unetkit.training import choose_precision  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, steps):
    fn(2)  # warm-up: tracing
    w, c = time.perf_counter(), cpu_seconds()
    fn(steps)
    wall = time.perf_counter() - w
    return wall / steps, (cpu_seconds() - c) / wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default="unet_light,unet")
    ap.add_argument("--precisions", default="float32," + ("mixed_bfloat16" if choose_precision("auto") != "float32" else ""))
    ap.add_argument("--json")
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--steps-per-execution", type=int, default=1)
    ap.add_argument("--compare-jit", action="store_true")
    args = ap.parse_args()
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    spe = args.steps_per_execution
    cfg = RunConfig()
    images, masks = isbi2012()
    samples = []
    for p in pair_folders(images, masks)[:22]:
        image, labels = load_pair(p, "binary", 2)
        cls, objects = make_targets(labels, cfg.data)
        samples.append(Sample(p.name, prepare(image, 1), cls, objects))
    size, batch = cfg.data.patch_size, cfg.train.batch_size
    workers = loader_workers(0)
    res = {"machine": f"{os.cpu_count()} cores", "batch": batch, "patch": size, "steps": args.steps, "workers": workers,
           "jit": args.jit, "steps_per_execution": spe}
    for name in [m for m in args.models.split(",") if m]:
        for precision in [p for p in args.precisions.split(",") if p]:
            keras.mixed_precision.set_global_policy(precision)
            opts = {"base_filters": 16, "batch_norm": True, "seed_head": False} if name == "unet_light" else {}
            key = f"{name}/{precision}"

            x = np.random.default_rng(0).random((batch, size, size, 1), dtype=np.float32)
            y = (x > 0.5).astype(np.float32)
            for label, raw_jit in (("raw", jit), *((("raw_xla", True), ("raw_noxla", False)) if args.compare_jit else ())):
                keras.utils.set_random_seed(0)
                raw = build("unet", input_channels=1, **opts)
                raw.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=raw_jit)
                res[f"{key}/{label}_s"], res[f"{key}/{label}_cpu"] = timed(
                    lambda n: [raw.train_on_batch(x, y) for _ in range(n)], args.steps)

            for label, w in (("inline", 0), ("threads", workers)):
                keras.utils.set_random_seed(0)
                m = build("unet", input_channels=1, **opts)
                m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=cross_entropy, metrics=list(TRAINING_METRICS),
                          jit_compile=jit, steps_per_execution=spe)
                loader = {"workers": w, "use_multiprocessing": False, "max_queue_size": 2 * w} if w else {}
                ds = PatchDataset(samples, size=size, batch_size=batch, steps=args.steps, augment=AugmentConfig(),
                                  **loader)
                res[f"{key}/{label}_s"], res[f"{key}/{label}_cpu"] = timed(
                    lambda n: m.fit(ds, epochs=1, steps_per_epoch=max(n, spe), verbose=0), args.steps)
                res[f"{key}/{label}_vs_raw"] = res[f"{key}/{label}_s"] / res[f"{key}/raw_s"]
            print(key, {k.split("/")[-1]: round(v, 3) for k, v in res.items() if k.startswith(key)}, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
