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
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _backend  # noqa: F401
from . import allocator
from .callbacks import RateSchedule, RunRecorder, average_weights_callback
from .checkpoint import BEST, LAST, load_model, save_model
from .config import RunConfig
from .io import remove_output, write_text
from .data.prepare import is_color
from .data.pairs import pair_folders, split_pairs
from .data.sampling import PatchDataset, TileDataset
from .errors import UnetkitError
from .losses import get_loss
from .mixing import FINETUNED
from .network import architecture, check_patch_size, init_model, model_meta
from .progress import plural
from .tensor_metrics import TRAINING_METRICS
from .training_data import add_weight_maps, matched_scales, oversized_patch, read_pairs, to_samples, working_scale

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


def check_extras(cfg: RunConfig) -> None:
    """Optional packages the settings need, found before anything is read or written."""
    import importlib.util
    if cfg.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UnetkitError("--tensorboard needs TensorBoard: pip install 'unetkit[tensorboard]'")


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


def train(cfg: RunConfig, out_dir, *, resume: bool = False, overwrite: bool = False, verbose: int | None = None,
          callbacks: list | None = None, plan=None) -> TrainResult:
    """Train a model as ``cfg`` says and write the run folder ``out_dir``.

    ``callbacks``: extra Keras callbacks (``unetkit tune`` reports each epoch's score through one).
    ``plan``: the data's plan (plan.py) that chose some of ``cfg``, written beside it as plan.yaml."""
    import keras

    from .config import validate
    validate(cfg, "settings")
    check_patch_size(cfg)
    check_extras(cfg)
    out = Path(out_dir)
    check_run_dir(out, resume, overwrite)
    if cfg.data.images is None or cfg.data.masks is None:
        raise UnetkitError("no training data: pass --images DIR and --masks DIR")
    loss_fn, needs_weights = get_loss(cfg.train.loss)
    log = _printer(verbose)
    data = load_data(cfg, needs_weights, log)

    keras.utils.set_random_seed(cfg.train.seed)
    precision = choose_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(precision)
    meta = run_meta(cfg, data, log)
    from .parallel import build_step_state, loader_workers, replicas
    n_rep = replicas(cfg.train.devices)
    lr = cfg.train.learning_rate * n_rep       # linear scaling with the global batch (parallel.py)
    model, state = build_run_model(cfg, out, resume, data.channels, meta, loss_fn, lr, log)
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
    train_ds = PatchDataset(data.train, size=size, batch_size=cfg.train.batch_size * n_rep,
                            workers=workers, use_multiprocessing=False, max_queue_size=2 * workers,
                            steps=cfg.train.steps_per_epoch, augment=cfg.augment, mode=cfg.data.sampling,
                            seed=cfg.train.seed, balance=cfg.data.balance)
    if cfg.data.balance == "appearance":
        groups = Counter(s.group for s in data.train)
        share = {g: train_ds.p[[s.group == g for s in data.train]].sum() for g in groups}
        log("appearance groups (images, share of patches): "
            + ", ".join(f"{g} {n} ({100 * share[g]:.0f}%)" for g, n in sorted(groups.items())))
    train_ds.epoch = state["epoch"]
    build_step_state(model, train_ds[0])
    val_ds = TileDataset(data.val, size=size, batch_size=cfg.train.batch_size, mode=cfg.data.sampling) \
        if data.val else None
    monitor = cfg.train.monitor if val_ds is not None else cfg.train.monitor.removeprefix("val_")
    if val_ds is None:
        log(f"no validation images: best.keras follows the training {monitor}, which rewards memorising; hold "
            "images out with --val-fraction or --val-range to choose by unseen ones")
    mode = "min" if monitor.endswith("loss") else "max"

    budget = None if not cfg.train.time_limit else cfg.train.time_limit * 60 - state["elapsed_s"]
    rec = RunRecorder(out, meta, monitor, mode, state, budget, log)
    callbacks_ = run_callbacks(cfg, out, rec, resume, lr, state, monitor, mode, log) + list(callbacks or [])
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
    threshold = choose_run_threshold(out, cfg, data.val, log)
    from .viz import plot_history
    plot_history(out / "history.csv", out / "curves.png")
    summary = {
        **({"threshold": threshold.threshold, "threshold_scores": threshold.scores} if threshold else {}),
        **({"mixed": mixed} if mixed else {}),
        "epochs": rec.state["epoch"], "seconds": round(rec.state["elapsed_s"], 1), "monitor": monitor,
        "best": rec.state["best"], "stopped_by": rec.stopped_by, "precision": precision, "channels": data.channels,
        "train": data.train_names, "val": data.val_names,
        "parameters": int(model.count_params()), "session_seconds": round(time.time() - t0, 1),
    }
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    log(f"done: {plural(summary['epochs'], 'epoch')} in {summary['seconds'] / 60:.1f} min ({rec.stopped_by}); "
        f"best {monitor} = {_four(summary['best'])}; run folder {out}")
    return TrainResult(out, out / BEST, rec.state["epoch"], rec.state["elapsed_s"], rec.state["best"], rec.stopped_by)


@dataclass
class RunData:
    """The run's samples, split, and the input channels the network takes."""
    train: list
    val: list
    channels: int
    train_names: list[str]
    val_names: list[str]


def load_data(cfg: RunConfig, needs_weights: bool, log) -> RunData:
    """Pairs found and split, read and checked, resized to the scale each trains at, with targets (and the loss's
    border weight maps where it needs them)."""
    pairs = pair_folders(cfg.data.images, cfg.data.masks)
    train_pairs, val_pairs = split_pairs(pairs, val_range=cfg.data.val_range, val_files=cfg.data.val_files,
                                         val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    train_loaded, val_loaded = read_pairs(train_pairs, cfg), read_pairs(val_pairs, cfg)
    channels = cfg.data.channels
    if channels == "auto":
        channels = 3 if any(is_color(image) for _, image, _ in train_loaded + val_loaded) else 1
    channels = int(channels)
    log(f"data: {len(train_pairs)} training and {len(val_pairs)} validation pairs, {channels} channel(s)")
    train_samples = to_samples(train_loaded, cfg, channels, matched_scales(train_loaded, cfg, log))
    val_samples = to_samples(val_loaded, cfg, channels, matched_scales(val_loaded, cfg, log, "validation"))
    note = oversized_patch(train_samples, cfg)
    if note:
        log(note)
    del train_loaded, val_loaded   # the native images: the samples hold what trains
    if needs_weights:
        t0 = time.time()
        add_weight_maps(train_samples, val_samples, cfg)
        log(f"weight maps (w0={cfg.train.w0}, sigma={cfg.train.sigma} px"
            f"{', touching objects weighted too' if cfg.train.contacts else ''}) in {time.time() - t0:.1f} s")
    return RunData(train_samples, val_samples, channels, [p.name for p in train_pairs], [p.name for p in val_pairs])


def run_meta(cfg: RunConfig, data: RunData, log) -> dict:
    """What the saved model records: the network's settings, and from the training images the working scale,
    the objects' median diameter (instance labels: count rescales images to it) and the noise ceiling."""
    meta = model_meta(cfg, data.channels)
    meta["scale"] = working_scale(cfg, data.train)
    if cfg.data.mask_mode == "instances":  # lets count rescale images to the object size it learned
        from .diameter import median_diameter
        sizes = [d for d in (median_diameter(s.objects)[0] for s in data.train) if d]
        meta["diameter"] = round(float(np.median(sizes)), 2) if sizes else None
    if meta["scale"] != 1.0:
        log(f"working scale {meta['scale']:.3f}: predict and count shrink images by it and map results back")
    from .noise import MARGIN, ceiling   # predict and count smooth images noisier than these (noise.py)
    meta["noise"] = ceiling([s.image for s in data.train])
    if meta["noise"]:
        log(f"noise of the training images: {meta['noise']:.4f} (99th percentile, normalised units); predict and "
            f"count smooth images above {MARGIN:g}x that")
    return meta


def build_run_model(cfg: RunConfig, out: Path, resume: bool, channels: int, meta: dict, loss_fn, lr: float, log):
    """(compiled model, run state): the resumed run's last.keras, the ``--init`` model (whose object size and count
    thresholds ``meta`` takes), or a new network; inside the data-parallel strategy's scope."""
    import keras

    from .parallel import compile_options, strategy_scope
    state = {"epoch": 0, "best": None, "elapsed_s": 0.0}
    custom = {f.__name__: f for f in [loss_fn, *TRAINING_METRICS]}
    with strategy_scope(cfg.train.devices):  # variables live on every replica
        if resume:
            state = json.loads((out / "state.json").read_text())
            model, _ = load_model(out / LAST, compile=True, custom_objects=custom)
            log(f"resuming after epoch {state['epoch']} ({state['elapsed_s'] / 60:.1f} min trained)")
            return model, state
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
    return model, state


def run_callbacks(cfg: RunConfig, out: Path, rec: RunRecorder, resume: bool, lr: float, state: dict, monitor: str,
                  mode: str, log) -> list:
    """The run's own callbacks, in the order they must run."""
    import keras

    # the CSV logger runs first so the recorder can redraw the curves from this epoch's row
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume), rec]
    if cfg.train.ema:  # first, so the logger, the recorder and every later callback see the average
        callbacks.insert(0, average_weights_callback(resume))
        log(f"weight average: validation and checkpoints use the moving average (momentum {cfg.train.ema:g})")
    if allocator.tune():  # freed step buffers stay in the heap instead of page-faulting back (allocator.py)
        callbacks.append(allocator.keep_heap_callback())
    if cfg.train.lr_schedule == "cosine" or cfg.train.warmup:  # (validate refused any other schedule)
        callbacks.append(RateSchedule(lr, cfg.train.steps_per_epoch, cfg.train.epochs,
                                      cfg.train.time_limit * 60 if cfg.train.time_limit else None, state["elapsed_s"],
                                      schedule=cfg.train.lr_schedule, warmup=cfg.train.warmup))
    if cfg.train.tensorboard:   # (check_extras made sure TensorBoard is installed)
        # scalars per epoch (loss, metrics, learning rate) beside history.csv; no graph or images: they cost time
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "tensorboard"), write_graph=False,
                                                     update_freq="epoch"))
        log(f"TensorBoard: tensorboard --logdir {out / 'tensorboard'}")
    if cfg.train.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg.train.early_stopping))
    return callbacks


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


def _four(value) -> str:
    """A score for the log, to 4 digits ("none" when no epoch was scored)."""
    return "none" if value is None else f"{float(value):.4f}"
