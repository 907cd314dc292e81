"""What the input pipeline costs: the training step through unetkit's pipeline against the
model's raw step on in-memory arrays, same network, batch and precision, in one run.

  raw       model.train_on_batch on fixed arrays, plain Keras BCE, no metrics;
  inline    unetkit's PatchDataset (random 256 px patches of the ISBI slices, the paper's elastic
            and affine augmentation, intensity changes) + its loss and metrics through model.fit,
            prepared in line;
  threads   the same with the loader threads training uses by default (parallel.loader_workers):
            what `unetkit train` runs;
  threads, malloc default   the same without allocator.py's heap settings (UNETKIT_MALLOC=default).
  loader    the loader threads alone, no model: seconds per batch they deliver together. Below the raw
            step, the loader can keep the step fed; above it, the loader sets the pace (the question on a
            GPU, where the step is short).
Every row runs in a fresh Python process: a row must not inherit the heap another row warmed up
(the first versions of this script timed the pipeline after the raw step in one process, which hid
a 1.5x page-fault cost that every real training run paid; allocator.py). Reported per row: seconds
per step (the mean over --steps after two warm-up steps) and the process's CPU use (user +
system seconds per wall second: 2.0 = both cores busy).
``--jit`` (XLA, Keras' ``jit_compile``: auto = on for TensorFlow) and ``--steps-per-execution``
(steps run inside one compiled call) apply to every row; ``--compare-jit`` times the raw step with
XLA on and off as well.

Usage: python benchmarks/pipeline.py [--steps 20] [--models unet_light,unet] [--precisions float32,mixed_bfloat16]
                                     [--jit auto|on|off] [--steps-per-execution 1] [--compare-jit] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from unetkit import allocator  # noqa: E402
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
from unetkit.network import architecture  # noqa: E402
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


def samples_and_config():
    cfg = RunConfig()
    images, masks = isbi2012()
    samples = []
    for p in pair_folders(images, masks)[:22]:
        image, labels = load_pair(p, "binary", 2)
        cls, objects = make_targets(labels, cfg.data)
        samples.append(Sample(p.name, prepare(image, 1), cls, objects))
    return samples, cfg


def network(name: str, cfg: RunConfig):
    """unet_light = what `unetkit train` builds by default; unet = the seeds' 64-filter network."""
    if name == "unet_light":
        arch, options = architecture(cfg)
        return arch.build(**{**options, "input_channels": 1, "num_classes": 1})
    return build("unet", input_channels=1)


def one_row(args) -> dict:
    """Time one row in this (fresh) process; returns {"s": seconds per step, "cpu": cores busy}."""
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    spe = args.steps_per_execution
    keras.mixed_precision.set_global_policy(args.precision)
    samples, cfg = samples_and_config()
    size, batch = cfg.data.patch_size, cfg.train.batch_size
    if args.row == "loader":
        from concurrent.futures import ThreadPoolExecutor
        ds = PatchDataset(samples, size=size, batch_size=batch, steps=2 + args.steps, augment=AugmentConfig())
        workers = loader_workers(0)
        with ThreadPoolExecutor(workers) as pool:   # as PyDataset's threads: each batch its own seeded draw
            s, cpu = timed(lambda n: list(pool.map(ds.__getitem__, range(n))), args.steps)
        return {"s": s, "cpu": cpu, "workers": workers}
    keras.utils.set_random_seed(0)
    m = network(args.model, cfg)
    if args.row.startswith("raw"):
        raw_jit = {"raw": jit, "raw_xla": True, "raw_noxla": False}[args.row]
        x = np.random.default_rng(0).random((batch, size, size, 1), dtype=np.float32)
        y = (x > 0.5).astype(np.float32)
        m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", jit_compile=raw_jit)
        s, cpu = timed(lambda n: [m.train_on_batch(x, y) for _ in range(n)], args.steps)
        return {"s": s, "cpu": cpu}
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=cross_entropy, metrics=list(TRAINING_METRICS),
              jit_compile=jit, steps_per_execution=spe)
    w = 0 if args.row == "inline" else loader_workers(0)
    loader = {"workers": w, "use_multiprocessing": False, "max_queue_size": 2 * w} if w else {}
    ds = PatchDataset(samples, size=size, batch_size=batch, steps=args.steps, augment=AugmentConfig(), **loader)
    callbacks = [allocator.keep_heap_callback()] if allocator.tune() else []  # as training.train does
    s, cpu = timed(lambda n: m.fit(ds, epochs=1, steps_per_epoch=max(n, spe), verbose=0, callbacks=callbacks),
                   args.steps)
    return {"s": s, "cpu": cpu, "malloc": "tuned" if callbacks else "default"}


ROWS = (("raw", {}), ("inline", {}), ("threads", {}), ("threads_malloc_default", {"UNETKIT_MALLOC": "default"}),
        ("loader", {}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", default="unet_light,unet")
    ap.add_argument("--precisions", default="float32," + ("mixed_bfloat16" if choose_precision("auto") != "float32" else ""))
    ap.add_argument("--json")
    ap.add_argument("--jit", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--steps-per-execution", type=int, default=1)
    ap.add_argument("--compare-jit", action="store_true")
    ap.add_argument("--row", help=argparse.SUPPRESS)        # internal: time one row in this process
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.row:
        print("ROW " + json.dumps(one_row(args)), flush=True)
        return
    rows = ROWS + ((("raw_xla", {}), ("raw_noxla", {})) if args.compare_jit else ())
    res = {"machine": f"{os.cpu_count()} cores", "steps": args.steps, "workers": loader_workers(0), "jit": args.jit,
           "steps_per_execution": args.steps_per_execution}
    for name in [m for m in args.models.split(",") if m]:
        for precision in [p for p in args.precisions.split(",") if p]:
            key = f"{name}/{precision}"
            for row, env in rows:
                cmd = [sys.executable, __file__, "--row", row.removesuffix("_malloc_default"), "--model", name,
                       "--precision", precision, "--steps", str(args.steps), "--jit", args.jit,
                       "--steps-per-execution", str(args.steps_per_execution)]
                out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")]
                if out.returncode or not line:
                    sys.exit(f"row {row} of {key} failed:\n{out.stderr[-2000:]}")
                got = json.loads(line[0][4:])
                res[f"{key}/{row}_s"], res[f"{key}/{row}_cpu"] = got["s"], got["cpu"]
                if row != "raw":
                    res[f"{key}/{row}_vs_raw"] = got["s"] / res[f"{key}/raw_s"]
            print(key, {k.split("/")[-1]: round(v, 3) for k, v in res.items() if k.startswith(key)}, flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
