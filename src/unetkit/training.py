"""Training: from a RunConfig to a run folder with checkpoints, history, curves.

Run folder layout:
    config.yaml      the full config of this run (reproducible with --config)
    plan.yaml        the data's fingerprint and the settings the plan chose, with reasons (when planned)
    best.keras       best checkpoint by the monitored metric (written atomically)
    last.keras       last epoch, with optimizer state, for --resume
    state.json       epoch, best score, elapsed seconds (for --resume and --time-limit)
    history.csv      per-epoch losses and metrics, train and validation
    curves.png       loss and metric curves
    summary.json     what happened: epochs, time, best score, split
"""
from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _backend  # noqa: F401
from . import allocator
from .checkpoint import BEST, LAST, load_model, save_model
from .config import RunConfig, TrainConfig
from .io import remove_output, write_text
from .data.prepare import is_color, prepare
from .data.pairs import load_pair, pair_folders, resize_pair, split_pairs
from .data.sampling import PatchDataset, Sample, TileDataset, appearance
from .data.targets import distance_target, make_targets
from .data.weightmap import border_weight_map, class_weights
from .errors import UnetkitError
from .losses import get_loss
from .mixing import FINETUNED
from .progress import plural
from .tensor_metrics import TRAINING_METRICS

RUN_MARKERS = ("config.yaml", BEST, LAST, "history.csv")
# everything a run writes: --overwrite removes these (and only these) first, so no file of the replaced run (its
# plan.yaml, an unmixed finetuned.keras, TensorBoard events) is read as the new run's
RUN_OUTPUTS = (*RUN_MARKERS, "plan.yaml", "curves.png", "state.json", "summary.json", FINETUNED, "tensorboard")


@dataclass
class TrainResult:
    run_dir: Path
    best_path: Path
    epochs: int
    seconds: float
    best_score: float | None
    stopped_by: str


def choose_precision(precision: str) -> str:
    """``auto``: mixed bfloat16 where the CPU has bf16 units (about 1.6x faster here), else float32."""
    if precision != "auto":
        return precision
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "mixed_bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


def target_classes(cfg: RunConfig) -> int:
    """Classes of the training target, background included."""
    return 3 if cfg.data.target == "boundary" else max(cfg.data.num_classes, 2)


def output_classes(cfg: RunConfig) -> int:
    """Number of model outputs: 1 sigmoid channel for two classes, else one per class."""
    n = target_classes(cfg)
    return 1 if n == 2 else n


def architecture(cfg: RunConfig):
    """(the architecture, its options from the config): the model's only door into training."""
    from .models import get
    arch = get(cfg.model.name)
    fields = {k: v for k, v in vars(cfg.model).items() if k not in ("name", "aux_weight")}
    return arch, arch.resolve(**fields)


def size_divisor(cfg: RunConfig) -> int:
    """What every patch side must divide by: the network halves it at each level."""
    arch, options = architecture(cfg)
    return arch.divisor(**options)


def model_meta(cfg: RunConfig, channels: int) -> dict:
    arch, options = architecture(cfg)
    return {
        "format": 1, "channels": channels, "norm": cfg.data.norm, "invert": cfg.data.invert,
        "num_classes": output_classes(cfg), "target": cfg.data.target, "depth": cfg.model.depth,
        "mask_mode": cfg.data.mask_mode, "patch_size": cfg.data.patch_size, "sampling": cfg.data.sampling,
        "architecture": cfg.model.name, "divisor": arch.divisor(**options), "halo": arch.halo(**options),
        "aux": options.get("aux"), "keep": "all" if cfg.predict.keep == "auto" else cfg.predict.keep,
        # the training loss, so fine-tuning (train --init) goes on optimising what the weights learned
        **{key: getattr(cfg.train, key) for key in LOSS_FIELDS},
    }


LOSS_FIELDS = ("loss", "w0", "sigma", "class_balance", "contacts")   # train settings the model records and --init takes


def adopt_init(cfg: RunConfig, spec: str, chosen: dict | None = None) -> RunConfig:
    """Fine-tuning: take from the model ``spec`` what its weights depend on (input channels,
    normalisation, polarity, target, architecture, auxiliary head), so the user's images
    reach the network as its training images did, and the loss it was trained with (with its
    border-weight settings), so fine-tuning goes on optimising the same objective: the bundled
    nuclei model fine-tuned with plain BCE on 8 H&E images got worse (benchmarks/README.md, 13).
    Options given on the command line still win (they are applied after this); so do the loss settings in
    ``chosen`` (the ``train`` section of a ``--config`` file: a training choice, which the weights do not
    depend on, unlike the input settings)."""
    from .checkpoint import read_meta, resolve_model_path
    meta = read_meta(resolve_model_path(spec))
    cfg.train.init = str(spec)
    cfg.data.channels, cfg.data.norm = int(meta["channels"]), meta["norm"]
    cfg.data.invert, cfg.data.target = meta.get("invert", "never"), meta.get("target", "classes")
    cfg.data.mask_mode = meta.get("mask_mode", cfg.data.mask_mode)
    cfg.model.name, cfg.model.depth, cfg.model.aux = meta.get("architecture", "unet"), int(meta["depth"]), meta.get("aux")
    if float(meta.get("scale", 1.0) or 1.0) != 1.0:
        cfg.data.scale = float(meta["scale"])
    if "loss" in meta:   # models saved before the loss was recorded keep the preset's
        defaults = TrainConfig()
        for key in LOSS_FIELDS:   # a field saved before it existed: its default
            default = getattr(defaults, key)
            setattr(cfg.train, key, type(default)(meta.get(key, default)))
    for key in set(LOSS_FIELDS) & set(chosen or {}):
        setattr(cfg.train, key, chosen[key])
    return cfg


def init_model(cfg: RunConfig, channels: int, meta: dict):
    """The model to fine-tune, checked against this run's data (a mismatch is named, not trained)."""
    from .checkpoint import load_model as _load
    model, init_meta = _load(cfg.train.init)
    from .models.blocks import BN_MOMENTUM
    for layer in model._flatten_layers():   # models saved with Keras' 0.99 settle too slowly for a short fine-tune
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    for key, mine in (("channels", channels), ("num_classes", meta["num_classes"]), ("aux", meta.get("aux"))):
        if init_meta.get(key) != mine:
            raise UnetkitError(f"--init {cfg.train.init}: the model has {key} = {init_meta.get(key)!r}, this run "
                               f"{mine!r}; leave those settings to the model (train --init sets them)")
    return model, init_meta


def working_scale(cfg: RunConfig, samples) -> float:
    """The scale the network sees images at: ``data.scale`` for patches (1 = full resolution,
    the images were resized by it at load); with ``resize`` sampling (the seeds' recipe) patch
    size / the training images' median side. Stored with the model so prediction works at the
    same scale instead of a silent mismatch."""
    if cfg.data.sampling != "resize" or not samples:
        return float(cfg.data.scale)
    side = float(np.median([np.sqrt(s.labels.shape[0] * s.labels.shape[1]) for s in samples]))
    return round(cfg.data.patch_size / side, 6)


def check_patch_size(cfg: RunConfig) -> None:
    """Before anything is read or written: the network halves the patch ``depth`` times."""
    divisor, size = size_divisor(cfg), cfg.data.patch_size
    if size % divisor:
        near = max(divisor, round(size / divisor) * divisor)
        raise UnetkitError(f"--patch-size {size} must be divisible by the network's size divisor {divisor} "
                           f"(it halves the patch at each level); e.g. {near}")


def oversized_patch(samples, cfg: RunConfig) -> str | None:
    """A note when every training image is smaller than the patch (patch sampling): the patches are then mostly
    mirrored copies of the image, at many times the pixels (and the time) per step; None otherwise."""
    if cfg.data.sampling != "patch" or not samples:
        return None
    size, largest = cfg.data.patch_size, max(max(s.image.shape[:2]) for s in samples)
    if size <= largest:
        return None
    divisor = size_divisor(cfg)
    fits = max(divisor, largest // divisor * divisor)
    return (f"note: --patch-size {size} exceeds every training image (the largest is {largest} px a side as trained): "
            f"patches are mostly mirrored copies, {(size / largest) ** 2:.1f}x the pixels per step; --patch-size "
            f"{fits} fits them")


def check_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    if resume:
        if not (out / LAST).is_file():
            raise UnetkitError(f"{out}: nothing to resume (no {LAST}); start a new run without --resume")
        return
    if out.exists() and any((out / m).exists() for m in RUN_MARKERS) and not overwrite:
        raise UnetkitError(f"{out}: this folder already holds a training run; choose another --out, "
                           "or pass --resume to continue it or --overwrite to replace it")


def clear_run(out: Path) -> None:
    """Remove an earlier run's outputs (RUN_OUTPUTS) from ``out``; other files stay."""
    for name in RUN_OUTPUTS:
        remove_output(out / name)


def read_pairs(pairs, cfg: RunConfig) -> list[tuple]:
    """(pair, native image, labels) for every pair, checked; each file is read once."""
    arch, options = architecture(cfg)
    min_side = arch.divisor(**options)
    loaded = []
    for p in pairs:
        image, labels = load_pair(p, cfg.data.mask_mode, cfg.data.num_classes)
        if min(image.shape[:2]) < min_side:
            raise UnetkitError(f"{p.image}: image is {image.shape[0]}x{image.shape[1]}, smaller than the "
                               f"network's minimum {min_side}x{min_side}; remove it or use a shallower --depth")
        loaded.append((p, image, labels))
    return loaded


def to_samples(loaded, cfg: RunConfig, channels: int, scales: list[float] | None = None) -> list[Sample]:
    """Samples of the loaded pairs, each resized once at load to its scale: ``scales`` (one per
    pair, ``matched_scales``) or the plan's working scale ``data.scale`` for all."""
    samples = []
    for i, (p, image, labels) in enumerate(loaded):
        image, labels = resize_pair(image, labels, cfg.data.scale if scales is None else scales[i])
        classes, objects = make_targets(labels, cfg.data)
        aux = distance_target(objects) if cfg.model.aux == "distance" else None
        samples.append(Sample(p.name, prepare(image, channels, cfg.data.norm, cfg.data.invert), classes, objects,
                              group=appearance(image) if cfg.data.balance == "appearance" else "",
                              aux=aux, aux_weight=cfg.model.aux_weight))
    return samples


def matched_scales(loaded, cfg: RunConfig, log, what: str = "training") -> list[float] | None:
    """Fine-tuning on instance labels: each pair's scale from ``diameter.matching_scale``, so the
    network is tuned at the object size ``count`` will show it this microscope's images at (the
    start model's training diameter, kept in its meta; images already in its band stay as they are).
    None where that does not apply: no ``--init``, ``--no-match-diameter``, other masks, resize
    sampling, or a start model without a recorded diameter."""
    if not (cfg.train.init and cfg.train.match_diameter and cfg.data.mask_mode == "instances"
            and cfg.data.sampling != "resize"):
        return None
    from .checkpoint import read_meta, resolve_model_path
    from .diameter import AIM, matching_scale, median_diameter
    trained = read_meta(resolve_model_path(cfg.train.init)).get("diameter")
    if not trained:
        return None
    scales = [matching_scale(labels, trained, cfg.data.scale) for _, _, labels in loaded]
    moved = [(p.name, median_diameter(labels)[0], f) for (p, _, labels), f in zip(loaded, scales) if f != cfg.data.scale]
    if moved:
        log(f"object size matched to {trained * AIM:.1f} px, where count will scale them ({AIM:g} x the model's "
            f"{trained:.1f} px): {len(moved)} of {len(loaded)} {what} images resized, "
            + ", ".join(f"{n} {d:.1f} px x{f:.2f}" for n, d, f in moved[:6])
            + (", ..." if len(moved) > 6 else "") + "; --no-match-diameter trains them at their own size")
    return scales


def add_weight_maps(train_samples, val_samples, cfg: RunConfig) -> None:
    n = target_classes(cfg)
    w_c = class_weights([s.labels for s in train_samples], n) if cfg.train.class_balance else np.ones(n, np.float32)
    for s in train_samples + val_samples:
        s.weights = border_weight_map(s.labels, s.objects, w_c, cfg.train.w0, cfg.train.sigma,
                                      contacts=cfg.train.contacts)


def train(cfg: RunConfig, out_dir, *, resume: bool = False, overwrite: bool = False, verbose: int | None = None,
          callbacks: list | None = None, plan=None) -> TrainResult:
    """Train a model as ``cfg`` says and write the run folder ``out_dir``.

    ``callbacks``: extra Keras callbacks (``unetkit tune`` reports each epoch's score through one).
    ``plan``: the data's plan (plan.py) that chose some of ``cfg``, written beside it as plan.yaml."""
    import keras

    from .config import validate
    validate(cfg, "settings")
    check_patch_size(cfg)
    out = Path(out_dir)
    check_run_dir(out, resume, overwrite)
    if cfg.data.images is None or cfg.data.masks is None:
        raise UnetkitError("no training data: pass --images DIR and --masks DIR")
    loss_fn, needs_weights = get_loss(cfg.train.loss)
    pairs = pair_folders(cfg.data.images, cfg.data.masks)
    train_pairs, val_pairs = split_pairs(pairs, val_range=cfg.data.val_range, val_files=cfg.data.val_files,
                                         val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    train_loaded, val_loaded = read_pairs(train_pairs, cfg), read_pairs(val_pairs, cfg)
    channels = cfg.data.channels
    if channels == "auto":
        channels = 3 if any(is_color(image) for _, image, _ in train_loaded + val_loaded) else 1
    channels = int(channels)
    log = _printer(verbose)
    log(f"data: {len(train_pairs)} training and {len(val_pairs)} validation pairs, {channels} channel(s)")
    train_samples = to_samples(train_loaded, cfg, channels, matched_scales(train_loaded, cfg, log))
    val_samples = to_samples(val_loaded, cfg, channels, matched_scales(val_loaded, cfg, log, "validation"))
    note = oversized_patch(train_samples, cfg)
    if note:
        log(note)
    del train_loaded, val_loaded
    if needs_weights:
        t0 = time.time()
        add_weight_maps(train_samples, val_samples, cfg)
        log(f"weight maps (w0={cfg.train.w0}, sigma={cfg.train.sigma} px"
            f"{', touching objects weighted too' if cfg.train.contacts else ''}) in {time.time() - t0:.1f} s")

    keras.utils.set_random_seed(cfg.train.seed)
    precision = choose_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(precision)
    meta = model_meta(cfg, channels)
    meta["scale"] = working_scale(cfg, train_samples)
    if cfg.data.mask_mode == "instances":  # lets count rescale images to the object size it learned
        from .diameter import median_diameter
        sizes = [d for d in (median_diameter(s.objects)[0] for s in train_samples) if d]
        meta["diameter"] = round(float(np.median(sizes)), 2) if sizes else None
    if meta["scale"] != 1.0:
        log(f"working scale {meta['scale']:.3f}: predict and count shrink images by it and map results back")
    from .noise import MARGIN, ceiling   # predict and count smooth images noisier than these (noise.py)
    meta["noise"] = ceiling([s.image for s in train_samples])
    if meta["noise"]:
        log(f"noise of the training images: {meta['noise']:.4f} (99th percentile, normalised units); predict and "
            f"count smooth images above {MARGIN:g}x that")
    custom = {f.__name__: f for f in [loss_fn, *TRAINING_METRICS]}

    from .parallel import build_step_state, compile_options, loader_workers, replicas, strategy_scope
    n_rep = replicas(cfg.train.devices)
    lr = cfg.train.learning_rate * n_rep       # linear scaling with the global batch (parallel.py)
    state = {"epoch": 0, "best": None, "elapsed_s": 0.0}
    with strategy_scope(cfg.train.devices):  # variables live on every replica
        if resume:
            state = json.loads((out / "state.json").read_text())
            model, _ = load_model(out / LAST, compile=True, custom_objects=custom)
            log(f"resuming after epoch {state['epoch']} ({state['elapsed_s'] / 60:.1f} min trained)")
        else:
            if cfg.train.init:
                model, init_meta = init_model(cfg, channels, meta)
                # the object size the network learned and its calibrated count thresholds travel too: a short
                # fine-tune on a few images (and its mix with the start model) moves neither far, while the few
                # images' own median size can be far off (29 px for H&E dev nuclei against the bundled 18.9 px:
                # count then skipped the rescaling the network needs); 'calibrate' re-chooses the thresholds
                own = meta.get("diameter")
                meta.update({k: init_meta[k] for k in ("divisor", "halo", "instances", "diameter") if k in init_meta},
                            init=cfg.train.init)
                if init_meta.get("noise") and meta.get("noise"):   # it has seen both sets of images
                    meta["noise"] = max(meta["noise"], init_meta["noise"])
                if own and meta.get("diameter") and own != meta["diameter"]:
                    log(f"objects as trained: median {own:.1f} px; the model keeps its own {meta['diameter']:.1f} px")
                log(f"fine-tuning {cfg.train.init} (its weights; learning rate {lr:g})")
                if cfg.train.freeze == "encoder":
                    from .models.blocks import freeze_encoder
                    log(f"encoder frozen: {freeze_encoder(model)} layers keep their weights, the decoder trains")
            else:
                arch, options = architecture(cfg)
                model = arch.build(**{**options, "input_channels": channels, "num_classes": meta["num_classes"]})
            ema = {"use_ema": True, "ema_momentum": cfg.train.ema} if cfg.train.ema else {}
            optimizer = keras.optimizers.Adam(lr, **ema)
            model.compile(optimizer=optimizer, loss=loss_fn, metrics=list(TRAINING_METRICS),
                          **compile_options(cfg.train.jit, cfg.train.steps_per_execution, cfg.train.steps_per_epoch))
    if n_rep > 1:
        log(f"data parallel: {n_rep} replicas, global batch {cfg.train.batch_size * n_rep}, learning rate {lr:g}")
    log(f"model: {cfg.model.name}, {model.count_params():,} parameters, precision {precision}")
    # the run folder is written once the data, the settings and the model have passed every check
    if overwrite and not resume:
        clear_run(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.yaml")
    if plan is not None:
        from .plan import write_plan
        write_plan(plan, out / "plan.yaml")

    size = cfg.data.patch_size
    workers = loader_workers(cfg.train.loader_workers)
    train_ds = PatchDataset(train_samples, size=size, batch_size=cfg.train.batch_size * n_rep,
                            workers=workers, use_multiprocessing=False, max_queue_size=2 * workers,
                            steps=cfg.train.steps_per_epoch, augment=cfg.augment, mode=cfg.data.sampling,
                            seed=cfg.train.seed, balance=cfg.data.balance)
    if cfg.data.balance == "appearance":
        groups = Counter(s.group for s in train_samples)
        share = {g: train_ds.p[[s.group == g for s in train_samples]].sum() for g in groups}
        log("appearance groups (images, share of patches): "
            + ", ".join(f"{g} {n} ({100 * share[g]:.0f}%)" for g, n in sorted(groups.items())))
    train_ds.epoch = state["epoch"]
    build_step_state(model, train_ds[0])
    val_ds = TileDataset(val_samples, size=size, batch_size=cfg.train.batch_size, mode=cfg.data.sampling) \
        if val_samples else None
    monitor = cfg.train.monitor if val_ds is not None else cfg.train.monitor.removeprefix("val_")
    if val_ds is None:
        log(f"no validation images: best.keras follows the training {monitor}, which rewards memorising; hold "
            "images out with --val-fraction or --val-range to choose by unseen ones")
    mode = "min" if monitor.endswith("loss") else "max"

    budget = None if not cfg.train.time_limit else cfg.train.time_limit * 60 - state["elapsed_s"]
    rec = RunRecorder(out, meta, monitor, mode, state, budget, log)
    # the CSV logger runs first so the recorder can redraw the curves from this epoch's row
    callbacks_ = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume), rec]
    if cfg.train.ema:  # first, so the logger, the recorder and every later callback see the average
        callbacks_.insert(0, average_weights_callback(resume))
        log(f"weight average: validation and checkpoints use the moving average (momentum {cfg.train.ema:g})")
    if allocator.tune():  # freed step buffers stay in the heap instead of page-faulting back (allocator.py)
        callbacks_.append(allocator.keep_heap_callback())
    if cfg.train.lr_schedule == "cosine" or cfg.train.warmup:  # (validate refused any other schedule)
        callbacks_.append(RateSchedule(lr, cfg.train.steps_per_epoch, cfg.train.epochs,
                                      cfg.train.time_limit * 60 if cfg.train.time_limit else None, state["elapsed_s"],
                                      schedule=cfg.train.lr_schedule, warmup=cfg.train.warmup))
    if cfg.train.tensorboard:
        import importlib.util
        if importlib.util.find_spec("tensorboard") is None:
            raise UnetkitError("--tensorboard needs TensorBoard: pip install 'unetkit[tensorboard]'")
        # scalars per epoch (loss, metrics, learning rate) beside history.csv; no graph or images: they cost time
        callbacks_.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"), write_graph=False,
                                                      update_freq="epoch"))
        log(f"TensorBoard: tensorboard --logdir {out / 'tensorboard'}")
    if cfg.train.early_stopping:
        callbacks_.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg.train.early_stopping))
    callbacks_ += list(callbacks or [])
    if cfg.train.init and not resume and val_ds is not None:
        rec.start_from(model, val_ds)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t0 = time.time()
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.train.epochs, initial_epoch=state["epoch"],
              callbacks=callbacks_, verbose=verbose)
    if rec.stopped_by == "epochs" and rec.state["epoch"] < cfg.train.epochs:
        rec.stopped_by = "early stopping"
    if not (out / BEST).exists():  # e.g. stopped before the first epoch ended
        save_model(model, out / BEST, meta, with_optimizer=False)
    mixed = None
    if cfg.train.init and cfg.train.mix < 1:
        from .mixing import mix_run
        mixed = mix_run(model, out, cfg.train.init, cfg.train.mix, meta, val_ds, monitor, log)
    threshold = choose_run_threshold(out, cfg, val_samples, log)
    from .viz import plot_history
    plot_history(out / "history.csv", out / "curves.png")
    summary = {
        **({"threshold": threshold.threshold, "threshold_scores": threshold.scores} if threshold else {}),
        **({"mixed": mixed} if mixed else {}),
        "epochs": rec.state["epoch"], "seconds": round(rec.state["elapsed_s"], 1), "monitor": monitor,
        "best": rec.state["best"], "stopped_by": rec.stopped_by, "precision": precision, "channels": channels,
        "train": [p.name for p in train_pairs], "val": [p.name for p in val_pairs],
        "parameters": int(model.count_params()), "session_seconds": round(time.time() - t0, 1),
    }
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    log(f"done: {plural(summary['epochs'], 'epoch')} in {summary['seconds'] / 60:.1f} min ({rec.stopped_by}); "
        f"best {monitor} = {_four(summary['best'])}; run folder {out}")
    return TrainResult(out, out / BEST, rec.state["epoch"], rec.state["elapsed_s"], rec.state["best"], rec.stopped_by)


def choose_run_threshold(out: Path, cfg: RunConfig, val_samples, log):
    """``train.choose_threshold``: the best checkpoint's foreground threshold on the validation
    images (thresholds.py), stored in its metadata so predict uses it. None when not asked."""
    if not cfg.train.choose_threshold:
        return None
    from .checkpoint import rewrite_meta
    from .predictor import Predictor
    from .thresholds import DEFAULT, validation_threshold
    why, predictor = None, None
    if not val_samples:
        why = "no validation images"
    elif cfg.data.sampling != "patch":
        why = "--sampling resize validates on resized images, not at the working scale"
    else:
        predictor = Predictor.load(out / BEST)
        if (outputs := predictor.outputs()) != 1:
            why = f"the model has {outputs} output channels, not one"
    if why:  # said, not hidden: the plan asks for it on every region task, a run may not allow it
        log(f"choose_threshold: {why}; the foreground threshold stays {DEFAULT:g}")
        return None
    choice = validation_threshold(predictor.batch, val_samples, multiple=predictor.multiple, keep=predictor.keep)
    rewrite_meta(out / BEST, out / BEST, {**predictor.meta, "threshold": choice.threshold})
    log(choice.describe() + ": stored with the model")
    return choice


def _printer(verbose):
    def log(msg):
        if verbose != 0:
            print(f"[unetkit] {msg}", flush=True)
    return log


import keras  # noqa: E402  (after _backend chose the backend)


def average_weights_callback(resume: bool):
    """Keras' SwapEMAWeights, swapping at each epoch's end too, so that validation, best.keras and last.keras
    hold the optimizer's moving average of the weights while the steps go on from the raw weights.
    last.keras is saved in that swapped state (the average in the model, the raw weights in the optimizer's
    average slots), so a resumed run starts swapped and the callback swaps back before its first step. A run
    that reached its last epoch keeps the average only (Keras hands the average back as the final weights):
    resuming it to more epochs steps on from the average."""
    callback = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
    callback._ema_weights_in_model = resume  # the callback's own flag; it has no public way to say so
    return callback


class RateSchedule(keras.callbacks.Callback):
    """The learning rate over the run's progress: the larger of the fraction of steps done and the
    fraction of the time limit spent, so a run cut by ``--time-limit`` still ends at a low rate.
    ``cosine``: decay to 0; ``constant``: the base rate. ``warmup`` (a fraction of the run) first
    raises the rate linearly from 0 (the usual remedy for a fresh optimizer state's first steps; it
    did not help fine-tuning the bundled nuclei model, benchmarks/README.md section 13, so it is off
    unless asked for). Progress survives ``--resume`` (the epoch number goes on; seconds
    before it are passed in). Steps are counted from Keras' batch index, so with several steps per
    compiled call (``steps_per_execution``) the rate is set once per call, at the right step."""

    def __init__(self, base_lr: float, steps_per_epoch: int, epochs: int, budget_s: float | None,
                 elapsed_before_s: float, *, schedule: str = "cosine", warmup: float = 0.0):
        super().__init__()
        self.base_lr, self.steps_per_epoch = base_lr, steps_per_epoch
        self.total_steps = max(epochs * steps_per_epoch, 1)
        self.budget_s, self.elapsed_before_s = budget_s, elapsed_before_s
        self.schedule, self.warmup = schedule, warmup
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def rate(self, progress: float) -> float:
        """The rate at ``progress`` (0 = start, 1 = end of the run)."""
        progress = min(progress, 1.0)
        lr = self.base_lr * (0.5 * (1 + math.cos(math.pi * progress)) if self.schedule == "cosine" else 1.0)
        return lr * min(1.0, progress / self.warmup) if self.warmup else lr

    def on_train_batch_begin(self, batch, logs=None):
        progress = (self.epoch * self.steps_per_epoch + batch) / self.total_steps
        if self.budget_s:
            progress = max(progress, (self.elapsed_before_s + time.time() - self.start) / self.budget_s)
        self.model.optimizer.learning_rate = self.rate(progress)


# curves.png is redrawn after an epoch when this long has passed since the last drawing (0.5-1 s each), and
# always when the run ends
CURVES_EVERY_S = 30.0


class RunRecorder(keras.callbacks.Callback):
    """Best/last checkpoints, state.json, curves (at most every CURVES_EVERY_S), and the wall-clock budget."""

    def __init__(self, out: Path, meta: dict, monitor: str, mode: str, state: dict, budget_s, log):
        super().__init__()
        self.out, self.meta, self.monitor, self.mode = out, meta, monitor, mode
        self.state, self.budget_s, self.log = dict(state), budget_s, log
        self.stopped_by = "epochs"
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = self.plotted = time.time()
        self.base_elapsed = self.state["elapsed_s"]

    def start_from(self, model, val_ds) -> None:
        """Fine-tuning: the starting model is the first candidate for best.keras, scored on the validation
        images before any step, so a fine-tune that never beats it on them hands back the model it began
        from instead of a worse one."""
        score = model.evaluate(val_ds, verbose=0, return_dict=True).get(self.monitor.removeprefix("val_"))
        if score is None or not math.isfinite(score):
            return
        self.state["best"] = float(score)
        save_model(model, self.out / BEST, self.meta, with_optimizer=False)
        self.log(f"the starting model scores {self.monitor} {score:.4f} on the validation images: best.keras "
                 "until an epoch beats it")

    def on_train_batch_end(self, batch, logs=None):
        if self.budget_s is not None and time.time() - self.start >= self.budget_s:
            self.model.stop_training = True
            self.stopped_by = "time limit"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        best = self.state["best"]
        if value is not None and math.isfinite(value) and (
                best is None or (value < best if self.mode == "min" else value > best)):
            self.state["best"] = float(value)
            save_model(self.model, self.out / BEST, self.meta, with_optimizer=False)
        save_model(self.model, self.out / LAST, self.meta)
        self.state["epoch"] = epoch + 1
        self.state["elapsed_s"] = self.base_elapsed + time.time() - self.start
        write_text(self.out / "state.json", json.dumps(self.state))
        if time.time() - self.plotted >= CURVES_EVERY_S:   # short epochs: drawing would cost more than training
            from .viz import plot_history
            plot_history(self.out / "history.csv", self.out / "curves.png")
            self.plotted = time.time()

    def on_train_end(self, logs=None):
        if self.stopped_by == "time limit":
            self.log(f"time limit reached after {self.state['elapsed_s'] / 60:.1f} min; best checkpoint kept")


def _four(value) -> str:
    """A score for the log, to 4 digits ("none" when no epoch was scored)."""
    return "none" if value is None else f"{float(value):.4f}"
