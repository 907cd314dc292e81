"""``unetkit`` command line: subcommands that parse options and call the API.

No logic lives here that the Python API lacks; every error a user can cause is a
``UnetkitError``, printed on one line with exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from .errors import UnetkitError


def _add_train(sub):
    from .config import CHOICES, PRESETS, RunConfig, TrainConfig
    dflt = RunConfig()
    p = sub.add_parser("train", help="train a U-Net on folders of images and masks")
    g = p.add_argument_group("data")
    g.add_argument("--images", help="folder of training images")
    g.add_argument("--masks", help="folder of masks, paired with images by file stem")
    g.add_argument("--mask-mode", choices=["binary", "classes", "instances"],
                   help=f"binary (default {dflt.data.mask_mode}): foreground > 0; classes: class indices; instances: "
                        "label images (one id per object)")
    g.add_argument("--num-classes", type=int, help="classes incl. background (classes mode)")
    g.add_argument("--target", choices=["classes", "boundary"], help="boundary: background/interior/boundary")
    g.add_argument("--channels", help="1, 3 or auto")
    g.add_argument("--norm", choices=CHOICES[("data", "norm")],
                   help="percentile (default): one 1-99.8 %% stretch for all channels; channel: one per colour channel")
    g.add_argument("--invert", choices=["auto", "never"], help="auto: make objects bright on dark (gray input)")
    g.add_argument("--sampling", choices=["patch", "resize"], help="random full-resolution patches, or resize (seeds)")
    g.add_argument("--balance", choices=["none", "appearance"],
                   help="appearance: draw rare modalities (colour/gray x bright/dark background) more often")
    g.add_argument("--patch-size", type=int, help=f"px per patch side (default {dflt.data.patch_size}; the plan "
                                                  "may choose another)")
    g.add_argument("--scale", type=float, help="working scale: train (and later predict) on images resized by it")
    g.add_argument("--val-range", help="validation = positions START:STOP of the name-sorted pairs (e.g. 25:30)")
    g.add_argument("--val-files", help="validation = these comma-separated file stems")
    g.add_argument("--val-fraction", type=float, help="validation = a seeded random fraction (default 0.2)")
    g = p.add_argument_group("model")
    g.add_argument("--model", dest="model_name", help="architecture name (see 'unetkit models')")
    g.add_argument("--base-filters", type=int, help=f"filters of the first level, doubled at each level down "
                                                    f"(default {dflt.model.base_filters}; the seeds' network: 64)")
    g.add_argument("--depth", type=int, help=f"times the network halves the image (default {dflt.model.depth})")
    g.add_argument("--dropout", type=float, help=f"dropout at the bottom level (default {dflt.model.dropout:g})")
    g.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help=f"batch normalisation after each convolution (default {'on' if dflt.model.batch_norm else 'off'})")
    g.add_argument("--upsampling", choices=["upsample", "transpose"],
                   help="decoder: upsampling + 2x2 convolution (default, the seeds') or transposed convolution")
    g = p.add_argument_group("training")
    g.add_argument("--config", help="YAML file of settings (see a run's config.yaml)")
    g.add_argument("--preset", help="default, seed (the seeds' exact recipe) or finetune (the default with --init)")
    g.add_argument("--init", metavar="MODEL",
                   help="fine-tune: start from a model's weights (bundled name such as nuclei, run folder or .keras); "
                        "takes its channels, normalisation and target, and the finetune preset's short schedule "
                        f"({PRESETS['finetune']['train']['time_limit']:g} min, rate "
                        f"{PRESETS['finetune']['train']['learning_rate']:g}), then averages the weights with the "
                        "model's (--mix)")
    g.add_argument("--freeze", choices=CHOICES[("train", "freeze")],
                   help="with --init: encoder keeps the model's features and trains the decoder only (default none)")
    g.add_argument("--mix", type=float, metavar="SHARE",
                   help="with --init: best.keras = SHARE x the fine-tuned weights + the rest from the start model "
                        f"(WiSE-FT; finetune preset {PRESETS['finetune']['train']['mix']:g}, 1 = fine-tuned alone)")
    g.add_argument("--match-diameter", action=argparse.BooleanOptionalAction, default=None,
                   help="with --init on instance masks: resize each image whose objects are outside the size band "
                        "count leaves alone to the model's training diameter, as count will "
                        f"(default {'on' if TrainConfig().match_diameter else 'off'})")
    g.add_argument("--plan", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the data and apply the plan's settings (see 'unetkit plan'; written to RUN/plan.yaml); "
                        "on by default, off with --config, --preset or --init; explicit options always win")
    g.add_argument("--epochs", type=int, help=f"at most this many epochs (default {dflt.train.epochs}; "
                                              "--time-limit may end the run first)")
    g.add_argument("--steps-per-epoch", type=int, help=f"batches per epoch (default {dflt.train.steps_per_epoch})")
    g.add_argument("--batch-size", type=int, help=f"patches per step (default {dflt.train.batch_size}; the plan may "
                                                  "choose another)")
    g.add_argument("--lr", type=float, dest="learning_rate",
                   help=f"Adam's learning rate (default {dflt.train.learning_rate:g})")
    g.add_argument("--lr-schedule", choices=["constant", "cosine"],
                   help="cosine (default): decay to 0 over the epochs or the --time-limit, whichever ends first; "
                        "constant: the seeds' fixed rate")
    g.add_argument("--warmup", type=float, metavar="FRACTION",
                   help=f"raise the rate linearly from 0 over this fraction of the run (default {TrainConfig.warmup:g})")
    g.add_argument("--ema", type=float, metavar="MOMENTUM",
                   help="validate and save an exponential moving average of the weights, this momentum per step "
                        "(e.g. 0.999: about the last 1,000 steps; default 0 = off)")
    g.add_argument("--loss", help="bce, dice, bce_dice or weighted_bce (the paper's border-weighted loss)")
    g.add_argument("--precision", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
                   help="auto (default): mixed bfloat16 where the CPU has bf16 units, else float32")
    g.add_argument("--time-limit", type=float, metavar="MINUTES", help="stop cleanly after this many minutes")
    g.add_argument("--devices", type=int, help="data parallel over N GPUs (TensorFlow/JAX); --batch-size is per "
                                               "device. Across machines: set TF_CONFIG on each (see README)")
    g.add_argument("--loader-workers", type=int, help="threads preparing batches ahead of the step (default: "
                                                      "half the cores, 2..8)")
    g.add_argument("--jit", choices=CHOICES[("train", "jit")], help="XLA compilation of the training step (auto: "
                                                                "Keras' choice)")
    g.add_argument("--steps-per-execution", type=int, metavar="N", help="training steps per compiled call")
    g.add_argument("--early-stopping", type=int, metavar="EPOCHS", help="patience; 0 disables")
    g.add_argument("--seed", type=int, help=f"seed of the split, patches, augmentation and weights "
                                            f"(default {dflt.train.seed})")
    g.add_argument("--no-augment", action="store_true", help="switch augmentation off")
    g.add_argument("--tensorboard", action="store_true", default=None,
                   help="write TensorBoard logs to RUN/tensorboard")
    g.add_argument("--aux", choices=["distance"], help="multi-task: add a distance-to-border head")
    g.add_argument("--aux-weight", type=float, help="loss weight of the auxiliary head (default 1)")
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, help="run folder to create")
    g.add_argument("--resume", action="store_true", help="continue the run in --out after an interruption")
    g.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run in --out (its files are removed once the new run has passed its "
                        "checks; other files stay)")
    g.add_argument("--quiet", action="store_true", help="no progress lines")


TRAIN_FIELDS = {
    "data": ["images", "masks", "mask_mode", "num_classes", "target", "channels", "norm", "invert", "sampling",
             "balance", "patch_size", "scale", "val_range", "val_files", "val_fraction"],
    "model": [("model_name", "name"), "base_filters", "depth", "dropout", "batch_norm", "upsampling", "aux",
              "aux_weight"],
    "train": ["epochs", "steps_per_epoch", "batch_size", "learning_rate", "lr_schedule", "warmup", "loss", "precision", "time_limit",
              "early_stopping", "seed", "tensorboard", "devices", "loader_workers", "jit", "steps_per_execution", "freeze", "mix", "match_diameter", "ema"],
}


def _train_config(args):
    """(the run's config, the data's plan or None): defaults, preset or --config, then --init's model,
    then the plan, then the options given on the command line."""
    from .config import load_config
    plan = None
    if args.resume:
        from pathlib import Path
        from .config import from_dict
        import yaml
        saved = Path(args.out) / "config.yaml"
        if not saved.is_file():
            raise UnetkitError(f"{saved}: nothing to resume; start a new run without --resume")
        return _resumed(from_dict(yaml.safe_load(saved.read_text())), args, saved), None
    cfg = load_config(args.config, args.preset or ("finetune" if args.init else "default"))
    if args.init:
        from .config import read_yaml
        from .network import adopt_init
        adopt_init(cfg, args.init, chosen=read_yaml(args.config).get("train") if args.config else None)
    have_data = (args.images or cfg.data.images) and (args.masks or cfg.data.masks)
    if args.plan or (args.plan is None and have_data and not (args.config or args.preset or args.init)):
        from .plan import plan_for
        plan = plan_for(args.images or cfg.data.images, args.masks or cfg.data.masks,
                        args.mask_mode or cfg.data.mask_mode, args.num_classes or cfg.data.num_classes)
        print(plan.describe(), flush=True)
        plan.apply(cfg)
    for section, fields in TRAIN_FIELDS.items():
        part = getattr(cfg, section)
        for f in fields:
            arg, key = f if isinstance(f, tuple) else (f, f)
            value = getattr(args, arg)
            if value is None:
                continue
            if key == "val_files":
                value = [v.strip() for v in value.split(",") if v.strip()]
            if key == "channels" and value != "auto":
                value = int(value)
            setattr(part, key, value)
    if args.no_augment:
        cfg.augment.enabled = False
    return cfg, plan


EXTENDS = ("epochs", "time_limit")   # what --resume may change: a run continues as configured, only for longer
FLAGS = {"learning_rate": "--lr", "model_name": "--model"}   # options whose flag is not their field's name


def _resumed(cfg, args, saved):
    """The saved run's config with a longer budget where --epochs or --time-limit ask for it. The same command
    line with --resume added is the usual way to continue, so options equal to the saved ones pass; one that
    would change the run is refused, not ignored."""
    from pathlib import Path
    changed = [f"--{flag}" for flag in ("config", "preset", "init") if getattr(args, flag)]
    changed += ["--no-augment"] * (args.no_augment and cfg.augment.enabled)
    for section, fields in TRAIN_FIELDS.items():
        for f in fields:
            arg, key = f if isinstance(f, tuple) else (f, f)
            value, before = getattr(args, arg), getattr(getattr(cfg, section), key)
            if value is None or key in EXTENDS:
                continue
            same = Path(value).resolve() == Path(before).resolve() if key in ("images", "masks") and before \
                else str(value) == str(before) or (key == "val_files" and value.split(",") == list(before or []))
            if not same:
                changed.append(FLAGS.get(arg, f"--{arg.replace('_', '-')}"))
    if changed:
        raise UnetkitError(f"--resume continues the run as {saved} has it; {changed[0]} would change it (only "
                           "--epochs and --time-limit can, to make it longer): drop it, or start a new run")
    for key in EXTENDS:
        if getattr(args, key) is not None:
            setattr(cfg.train, key, getattr(args, key))
    return cfg


def _add_tiling(p, tta: bool):
    from .config import PredictConfig
    d = PredictConfig()
    g = p.add_argument_group("tiling (overlap-tile prediction at full resolution)")
    g.add_argument("--tile", type=int, default=d.tile, help=f"largest tile side in px; each axis is cut into the fewest tiles up to that (default {d.tile})")
    g.add_argument("--overlap", type=int, default=d.overlap,
                   help=f"mirror margin and tile overlap in px (default {d.overlap})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"tiles per forward pass (default {d.batch_size})")
    g.add_argument("--tta", action=argparse.BooleanOptionalAction, default=tta,
                   help=f"average over the four flips: 4x the prediction time (default {'on' if tta else 'off'})")
    g.add_argument("--denoise", type=_denoise, default=d.denoise, metavar="auto|off|PX",
                   help="smooth images noisier than the model's training images, just enough (auto, default; "
                        "models that record no training noise: none), never (off), or by a Gaussian of PX at the "
                        "working scale")


def _denoise(value: str) -> str:
    if value in ("auto", "off"):
        return value
    try:
        sigma = float(value)
    except ValueError:
        sigma = -1.0
    if not 0 <= sigma <= 10:
        raise argparse.ArgumentTypeError(f"{value!r}: use auto, off or a Gaussian sigma in px from 0 to 10")
    return str(sigma)


def _add_axes_blocks_batch(p, count: bool = False):
    from .config import NAN_POLICIES, T_MODES, Z_MODES, AxisChoice, BlockConfig
    d, axes = BlockConfig(), AxisChoice()
    g = p.add_argument_group("input axes (microscope files: OME-TIFF, OME-Zarr, z-stacks, time series)")
    g.add_argument("--channel", help="channel(s) to use by name or index, comma-separated (e.g. DAPI or 0,1,2)")
    g.add_argument("--z", choices=Z_MODES,
                   help="z-stacks: each slice (objects linked across z) or the maximum projection")
    if count:
        g.add_argument("--t", choices=T_MODES, default=axes.t,
                       help="time series: each frame counted on its own (default); track: an object and the one "
                            "of the frame before that overlap each other best (IoU >= 0.25) share an id, else the "
                            "nearest left over within its diameter, of like size; up to two frames an object is "
                            "missed in are bridged; a longer jump starts a new id; a row per track in NAME_tracks.csv); lineage: "
                            "tracks that also divide: two like-sized objects where one of the frame before was "
                            "(together it, or placed about its centre) start two tracks, each with that one as its "
                            "parent in NAME_tracks.csv, once both are seen again the next frame")
        g.add_argument("--ctc", action="store_true",
                       help="with --t track or lineage: also write the tracks in the Cell Tracking Challenge's format "
                            "(NAME_RES/: mask000.tif... and res_track.txt, L B E P), which its TRA/SEG/DET "
                            "measures read; a track is cut where a frame was bridged, its return the gap's child")
    g.add_argument("--axes", help="name the axes of files that do not (e.g. ZYX, CYX, TYX for a plain TIFF stack)")
    from .io.sequence import SEQUENCES
    g.add_argument("--sequence", choices=SEQUENCES,
                   help="each input folder is one image whose files, in name order (t2 before t10), are its frames "
                        "(t: a time lapse saved a file a frame, as the Cell Tracking Challenge's t000.tif...) or "
                        "z-slices (z); outputs are named after the folder")
    g.add_argument("--nan", choices=NAN_POLICIES, default=axes.nan,
                   help="NaN/inf pixels: refuse the file (default) or predict them as background")
    g = p.add_argument_group("large images (block-wise, OME-Zarr outputs, Dask)")
    g.add_argument("--blocks", choices=["auto", "always", "never"], default=d.mode,
                   help=f"auto: block by block above {d.max_pixels // 2 ** 20} Mpx per plane and for any "
                        "z-stack or time series; never: in memory, one plane per file")
    g.add_argument("--block-size", type=int, default=d.block_size, help=f"px per block side (default {d.block_size})")
    if count:
        g.add_argument("--halo", type=int, default=d.halo,
                       help=f"px around a block when labelling; at least the largest object (default {d.halo})")
    g.add_argument("--scheduler", help="address of a dask.distributed scheduler (or set UNETKIT_SCHEDULER); "
                                       "default: threads on this machine")
    g.add_argument("--workers", type=int, help="local threads (default: min(cores, 4))")
    g = p.add_argument_group("batch")
    g.add_argument("--on-error", choices=["skip", "stop"], default="skip",
                   help="a bad file is reported and skipped (default), or stops the batch")
    g.add_argument("--skip-existing", action="store_true",
                   help="continue an interrupted run in --out: finished images are not redone")


def _axes_blocks_batch(args) -> dict:
    from .config import BlockConfig
    from .io.sequence import sequence_axes
    from .planes import AxisChoice
    channel = [c.strip() for c in args.channel.split(",") if c.strip()] if args.channel else None
    blocks = BlockConfig(mode=args.blocks, block_size=args.block_size, scheduler=args.scheduler,
                         workers=args.workers)
    if getattr(args, "halo", None) is not None:
        blocks.halo = args.halo
    choice = AxisChoice(channel=channel, z=args.z, nan=args.nan, t=getattr(args, "t", AxisChoice.t))
    return {"choice": choice, "blocks": blocks, "axes": sequence_axes(args.sequence, args.axes),
            "on_error": args.on_error, "skip_existing": args.skip_existing}


def _tiling_config(args, **extra):
    from .config import PredictConfig
    return PredictConfig(tile=args.tile, overlap=args.overlap, batch_size=args.batch_size, tta=args.tta,
                         denoise=args.denoise, **extra)


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict masks for images of any size (overlap-tile)")
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    p.add_argument("--model", required=True, help="run folder, .keras file or bundled model name")
    p.add_argument("--out", required=True, help="output folder")
    from .config import PredictConfig
    _add_tiling(p, tta=PredictConfig.tta)
    d = PredictConfig()
    g = p.add_argument_group("output")
    g.add_argument("--threshold", type=float, default=d.threshold,
                   help="foreground probability (default: the model's, chosen on its validation images when its plan "
                        "asked for it, else 0.5)")
    g.add_argument("--prob-format", choices=["tif", "npy"], default=d.prob_format,
                   help=f"file of the probabilities (default {d.prob_format}: float32 TIFF)")
    g.add_argument("--keep", choices=["auto", "all", "largest"], default=d.keep,
                   help="largest: keep only the largest region, holes filled; auto (default): what the model was "
                        "trained for (the plan picks largest for data with one region per image, e.g. a skin lesion)")
    g.add_argument("--overwrite", action="store_true", help="replace an earlier run's outputs in --out")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_axes_blocks_batch(p)


def _add_evaluate(sub):
    from .config import MATCH_RULES
    p = sub.add_parser("evaluate", help="score predicted masks against ground truth")
    p.add_argument("--pred", required=True, help="folder of predicted masks (NAME_mask.png or NAME.png)")
    p.add_argument("--truth", required=True, help="folder of ground-truth masks")
    p.add_argument("--mask-mode", choices=["binary", "classes", "instances"], default="binary",
                   help="how the truth masks are read, as in training (instances: label images, scored as "
                        "foreground; --instances scores objects)")
    p.add_argument("--num-classes", type=int, default=2, help="classes of class-index masks, background included")
    p.add_argument("--instances", action="store_true",
                   help="object-level scores: --pred holds label images (NAME_labels.tif from 'unetkit count')")
    p.add_argument("--tracks", action="store_true",
                   help="tracking scores (detections, links, whole tracks, divisions): --pred holds label movies "
                        "from 'unetkit count --t track' or lineage, --truth label movies named as the counted "
                        "files whose ids are tracks (parents, where known, in NAME_tracks.csv or the Cell Tracking "
                        "Challenge's NAME.txt), or the Challenge's ground truth as distributed (NN_GT/TRA, or a "
                        "folder of NN_GT folders)")
    p.add_argument("--ctc", action="store_true",
                   help="--tracks against the Challenge's ground truth: also its own measures (DET, TRA, LNK, BC, CT, "
                        "TF; SEG where the truth has SEG) of each NAME_RES that count --ctc wrote, by py-ctcmetrics "
                        "(pip install 'unetkit[ctc]')")
    p.add_argument("--match", choices=MATCH_RULES, default=MATCH_RULES[0],
                   help="--tracks: objects match at IoU >= 0.5 (default), or by the Cell Tracking Challenge's rule "
                        "(the prediction covers more than half of the true object: for its TRA markers, smaller "
                        "than the cells)")
    p.add_argument("--out", help="where to write the evaluation (evaluation, instance_evaluation or "
                                 "track_evaluation .csv and .json; default: the --pred folder)")
    p.add_argument("--images", help="folder of the input images: also draw grid.png (image / truth / prediction)")
    p.add_argument("--task", choices=["auto", "membranes", "regions", "classes"], default="auto",
                   help="what the masks segment (auto: from the first mask); sets which scores lead: ISBI V_rand "
                        "for membranes, foreground IoU / Dice / ISIC Jaccard for regions (lesions, organs)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in that folder")


def _add_count(sub):
    p = sub.add_parser("count", help="count and measure objects (cells, nuclei): labels, tables, overlays")
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    p.add_argument("--model", required=True, help="run folder, .keras file or bundled model name (e.g. nuclei)")
    p.add_argument("--out", required=True, help="output folder")
    from .config import InstanceConfig
    d = InstanceConfig()
    g = p.add_argument_group("objects")
    g.add_argument("--split", choices=["watershed", "components", "canny"], default=d.split,
                   help=f"watershed splits touching objects (default {d.split}); canny is the seeds' count")
    # thresholds default to the model's calibrated values ('unetkit calibrate'), else to these
    g.add_argument("--threshold", type=float,
                   help=f"foreground probability (default: the model's calibrated one, else {d.threshold})")
    g.add_argument("--min-size", type=int, help=f"drop objects under this many px ({d.min_size})")
    g.add_argument("--min-score", type=float,
                   help="drop objects whose highest interior probability is under this: the network was unsure of "
                        f"them (default: the model's, else {d.min_score:g} = keep all); each object's is the tables' "
                        "score column")
    g.add_argument("--marker-threshold", type=float,
                   help=f"interior probability that seeds an object, boundary-aware models (the model's calibrated "
                        f"one, else {d.marker_threshold})")
    g.add_argument("--min-distance", type=int, help=f"px between seeds, binary models ({d.min_distance})")
    g.add_argument("--smooth", type=float,
                   help="px, Gaussian sigma on the seed map before seeding: texture then seeds one object once "
                        f"(default: the model's, else {d.smooth:g})")
    g.add_argument("--seeds", choices=["auto", "interior", "distance"],
                   help="watershed seeds: the model's distance head (object centres) or its interior probability; "
                        "auto (default): the distance head where the model has one")
    g.add_argument("--distance-threshold", type=float,
                   help=f"predicted distance to the border (1 = centre) that seeds an object ({d.distance_threshold})")
    g.add_argument("--diameter", default=d.diameter,
                   help="typical object diameter in px; auto (default) finds it and rescales images whose objects are "
                        "outside the model's size band to 1.25x the size it learned; off predicts at the model's own "
                        "scale")
    g.add_argument("--pixel-size", type=float,
                   help="um per pixel: report areas in um^2 and lengths in um (default: from the file's metadata)")
    g.add_argument("--frame-interval", type=float, metavar="SECONDS",
                   help="seconds between a time lapse's frames: NAME_tracks.csv gives each track's speed per minute "
                        "(default: from the file's metadata: OME TimeIncrement or DeltaT, ImageJ's frame interval, "
                        "OME-Zarr's time scale)")
    g.add_argument("--outlines", nargs="+", default=[], metavar="FORMAT",   # count checks the names (io.object_files)
                   help="also write every object's outline: geojson (NAME_objects.geojson: QuPath imports it as "
                        "detections with their measurements), imagej (NAME_rois.zip: Fiji's ROI Manager)")
    from .config import COUNT_TTA
    _add_tiling(p, tta=COUNT_TTA)
    _add_axes_blocks_batch(p, count=True)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier count in --out; the outputs of images its counts.csv lists and this "
                        "run does not count are removed (evaluate would score them)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_track(sub):
    from .config import TRACKED
    p = sub.add_parser("track", help="link label movies segmented elsewhere (Cellpose, StarDist, ...) into tracks")
    p.add_argument("inputs", nargs="+", help="label movies (T, Y, X: 0 background, objects 1, 2, ... in each frame), "
                                              "or folders of them")
    p.add_argument("--out", required=True, help="output folder")
    g = p.add_argument_group("tracking")
    g.add_argument("--t", choices=TRACKED, default=TRACKED[0],
                   help="track: as 'unetkit count --t track' links frames; lineage: tracks that also divide")
    g.add_argument("--ctc", action="store_true",
                   help="also the Cell Tracking Challenge's result folder (NAME_RES/: mask000.tif..., res_track.txt)")
    g = p.add_argument_group("inputs and units")
    g.add_argument("--axes", help="name the axes of files that do not (e.g. TYX for a plain TIFF stack)")
    g.add_argument("--sequence", choices=["t"],
                   help="t: each input folder is one movie, one label image a frame, in name order (the Challenge's "
                        "mask000.tif..., Cellpose's per-frame masks)")
    g.add_argument("--pixel-size", type=float, help="um per pixel (default: from the file's metadata)")
    g.add_argument("--frame-interval", type=float, metavar="SECONDS",
                   help="seconds between frames: speeds per minute (default: from the file's metadata)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's outputs in --out")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_plan(sub):
    p = sub.add_parser("plan", help="measure a training set and print the settings its rules choose")
    p.add_argument("--images", required=True, help="folder of training images")
    p.add_argument("--masks", required=True, help="folder of masks, paired with images by file stem")
    p.add_argument("--mask-mode", choices=["binary", "classes", "instances"], default="binary",
                   help="how the masks are read, as in 'unetkit train' (default binary)")
    p.add_argument("--num-classes", type=int, default=2, help="classes incl. background (classes mode)")
    p.add_argument("--out", help="also write the fingerprint and plan as YAML here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _add_tune(sub):
    p = sub.add_parser("tune", help="search learning rate, depth, width, loss and architecture with Optuna")
    p.add_argument("--images", required=True, help="folder of training images")
    p.add_argument("--masks", required=True, help="folder of masks, paired with images by file stem")
    p.add_argument("--out", required=True, help="study folder (study.db, trials/, best.yaml, trials.png)")
    p.add_argument("--config", help="base settings (YAML); the search changes only the searched ones")
    p.add_argument("--val-range", help="validation = positions START:STOP of the name-sorted pairs")
    p.add_argument("--plan", action="store_true", help="start from the data's plan")
    p.add_argument("--time-limit", type=float, default=20.0, metavar="MINUTES", help="whole search (default 20)")
    p.add_argument("--trials", type=int, default=20, help="trials in the study, resumed ones included")
    p.add_argument("--trial-minutes", type=float, default=None,
                   help="training budget of one trial (default: a sixth of --time-limit, at least 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial's training (default 0)")


def _add_calibrate(sub):
    p = sub.add_parser("calibrate", help="choose count's thresholds on annotated images; write a model that uses them")
    p.add_argument("--model", required=True, help="run folder, .keras file or bundled model name")
    p.add_argument("--images", required=True, help="folder of images (not the training images: held-out ones)")
    p.add_argument("--masks", required=True, help="folder of instance label masks, paired by file stem")
    p.add_argument("--out", required=True, help="the calibrated model to write, NAME.keras (plus NAME.calibration.json)")
    from .calibrate import CRITERIA
    p.add_argument("--criterion", choices=CRITERIA, default=CRITERIA[0],
                   help=f"f1: mean F1 at IoU 0.5 and 0.75, finding and outlining objects; count: F1 at IoU 0.5 among "
                        f"the settings whose median count error is no worse than the model's own (default {CRITERIA[0]})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out model")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_export(sub):
    from .config import ExportConfig
    from .exporting import FORMATS, POLARITIES
    d = ExportConfig()
    p = sub.add_parser("export", help="write a model for other tools: a bioimage.io package (Fiji, QuPath, ilastik, "
                                      "napari) or ONNX")
    p.add_argument("--model", required=True, help="run folder, .keras file or bundled model name")
    p.add_argument("--out", required=True, help="NAME.zip (bioimage.io package) or NAME.onnx")
    p.add_argument("--format", choices=list(FORMATS), default=None,
                   help=f"default: from --out's suffix (.zip: bioimageio, .onnx: onnx), else {d.format}")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    g = p.add_argument_group("bioimage.io package")
    g.add_argument("--polarity", choices=POLARITIES, default=d.polarity,
                   help="objects brighter than the background (fluorescence) or darker (brightfield, H&E): a "
                        "package fixes what unetkit decides per image (auto = bright)")
    g.add_argument("--sample", help="an image of your own for the package's test image and cover (default: "
                                    "synthetic cells)")
    g.add_argument("--crop", type=int, default=d.crop, help=f"px per side of the test image (default {d.crop})")
    g.add_argument("--name", help="the package's name (default: the model's)")
    g.add_argument("--author", action="append", dest="authors", help="an author's name (repeat for several)")
    g.add_argument("--license", default=d.license, help=f"SPDX licence id of the weights (default {d.license})")
    g = p.add_argument_group("ONNX")
    g.add_argument("--opset", type=int, default=d.opset, help=f"ONNX opset (default {d.opset})")


def _add_demo(sub):
    p = sub.add_parser("demo", help="train, predict and evaluate on bundled data (about 8 minutes)")
    p.add_argument("--data", choices=["isbi", "synthetic"], default="isbi",
                   help="isbi (default): the bundled ISBI 2012 EM slices; synthetic: 24 generated cell images of "
                        "256 px")
    p.add_argument("--minutes", type=float, default=7.0, help="training budget in minutes (default 7)")
    p.add_argument("--out", help="output folder (default: ./unetkit-demo-DATE)")
    p.add_argument("--precision", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"], default="auto",
                   help="auto: bf16 where the CPU has bf16 units; float32 checks what a float32-only CPU gets")
    p.add_argument("--no-tta", dest="tta", action="store_false",
                   help="predict without flip TTA (the demo averages the four flips by default)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="unetkit", description="U-Net segmentation for biomedical images.")
    parser.add_argument("--verbose", action="store_true",
                        help="show the backend's start-up messages (hidden by default; warnings always show)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_predict(sub)
    _add_evaluate(sub)
    _add_count(sub)
    _add_track(sub)
    _add_demo(sub)
    _add_plan(sub)
    _add_calibrate(sub)
    _add_tune(sub)
    _add_export(sub)
    sub.add_parser("models", help="list the registered architectures and bundled models")
    args = parser.parse_args(argv)
    if args.command not in ("evaluate", "plan", "track") and not args.verbose:
        from ._backend import import_backend_quietly
        import_backend_quietly()
    try:
        return _run(args)
    except UnetkitError as exc:
        print(f"unetkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"unetkit {args.command}: interrupted", file=sys.stderr)
        return 130


def _refuse_existing(overwrite: bool, path, *others) -> None:
    """A command that writes one named file (and its companions) never replaces an earlier one unless asked."""
    if not overwrite and any(p.exists() for p in (path, *others)):
        raise UnetkitError(f"{path}: already exists; choose another --out or pass --overwrite")


def _train(args) -> None:
    from .training import train
    cfg, plan = _train_config(args)
    train(cfg, args.out, resume=args.resume, overwrite=args.overwrite, verbose=0 if args.quiet else None, plan=plan)


def _predict(args) -> None:
    from .prediction import predict
    cfg = _tiling_config(args, threshold=args.threshold, prob_format=args.prob_format, keep=args.keep)
    predict(args.model, args.inputs, args.out, cfg, overwrite=args.overwrite, verbose=not args.quiet,
            **_axes_blocks_batch(args))


def _count(args) -> None:
    from .counting import count
    from .instances import instance_settings
    from .predictor import Predictor
    predictor = Predictor.load(args.model, _tiling_config(args))
    icfg = instance_settings(predictor.meta, split=args.split, threshold=args.threshold, min_size=args.min_size,
                             min_distance=args.min_distance, marker_threshold=args.marker_threshold,
                             seeds=args.seeds, distance_threshold=args.distance_threshold, diameter=args.diameter,
                             smooth=args.smooth, min_score=args.min_score)
    count(predictor, args.inputs, args.out, instance_cfg=icfg, pixel_size=args.pixel_size,
          frame_interval=args.frame_interval, ctc=args.ctc, overwrite=args.overwrite, verbose=not args.quiet,
          outlines=tuple(args.outlines), **_axes_blocks_batch(args))


def _track(args) -> None:
    from .io.sequence import sequence_axes
    from .track_labels import track_labels
    track_labels(args.inputs, args.out, mode=args.t, ctc=args.ctc, axes=sequence_axes(args.sequence, args.axes),
                 pixel_size=args.pixel_size,
                 frame_interval=args.frame_interval, overwrite=args.overwrite, verbose=not args.quiet)


def _evaluate(args) -> None:
    if (args.match != "iou" or args.ctc) and not args.tracks:
        raise UnetkitError(f"--{'ctc' if args.ctc else 'match ' + args.match} scores tracks: pass --tracks, or "
                           "leave it out")
    if args.tracks:
        if args.instances:
            raise UnetkitError("--tracks scores label movies, --instances label images: pass one of them")
        from .track_scores import evaluate_tracks
        evaluate_tracks(args.pred, args.truth, out_dir=args.out, overwrite=args.overwrite, match=args.match,
                        challenge=args.ctc)
    elif args.instances:
        from .evaluation import evaluate_instances
        evaluate_instances(args.pred, args.truth, out_dir=args.out, overwrite=args.overwrite)
    else:
        from .evaluation import evaluate_folders
        evaluate_folders(args.pred, args.truth, mask_mode=args.mask_mode, num_classes=args.num_classes,
                         out_dir=args.out, images_dir=args.images, overwrite=args.overwrite, task=args.task)


def _demo(args) -> None:
    from .demo import run_demo
    run_demo(args.out, kind=args.data, minutes=args.minutes, precision=args.precision, tta=args.tta)


def _tune(args) -> None:
    from .config import load_config
    from .tune import tune
    cfg = load_config(args.config)
    cfg.data.images, cfg.data.masks, cfg.train.seed = args.images, args.masks, args.seed
    if args.val_range:
        cfg.data.val_range = args.val_range
    if args.plan:
        from .plan import plan_for
        plan_for(args.images, args.masks, cfg.data.mask_mode, cfg.data.num_classes).apply(cfg)
    tune(cfg, args.out, time_limit=args.time_limit, trials=args.trials, trial_minutes=args.trial_minutes)


def _calibrate(args) -> None:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from .calibrate import calibrate, check_out, write_calibrated
    from .io import write_text
    out = Path(args.out)
    report = out.with_suffix(".calibration.json")
    check_out(args.model, out)
    _refuse_existing(args.overwrite, out, report)
    result = calibrate(args.model, args.images, args.masks, criterion=args.criterion, verbose=not args.quiet)
    write_calibrated(args.model, result, out)
    write_text(report, json.dumps(asdict(result), indent=1))
    print(f"[unetkit] wrote {out} (count uses {result.settings}) and {report}")


def _export(args) -> None:
    from .config import ExportConfig
    from .exporting import export_model, format_for
    cfg = ExportConfig(format=args.format or format_for(args.out), polarity=args.polarity, sample=args.sample,
                       crop=args.crop, name=args.name, license=args.license, opset=args.opset,
                       **({"authors": tuple(args.authors)} if args.authors else {}))
    export_model(args.model, args.out, cfg, overwrite=args.overwrite)


def _plan(args) -> None:
    from pathlib import Path

    from .plan import plan_for, write_plan
    if args.out:   # before reading every mask
        _refuse_existing(args.overwrite, Path(args.out))
    plan = plan_for(args.images, args.masks, args.mask_mode, args.num_classes)
    print(plan.describe())
    if args.out:
        print(f"[unetkit] wrote {write_plan(plan, Path(args.out))}")


def _models(args) -> None:
    from .checkpoint import read_meta
    from .data.bundled import bundled_model, bundled_models, model_card
    from .instances import CALIBRATED
    from .models import available, get
    print("architectures (parameters for a 1-channel 256 x 256 input, default options):")
    for name in available():
        arch = get(name)
        params = arch.build(input_channels=1, input_size=256).count_params()
        print(f"  {name:<15} {params:>12,}  divisor {arch.divisor()}, halo {arch.halo()} px: {arch.description}")
    print("bundled models:", ", ".join(bundled_models()) or "none")
    for name in bundled_models():
        card = model_card(name)
        if card:  # the card's title says what the model is for; the file says the rest
            title = card.read_text().splitlines()[0].lstrip("# ")
            print(f"  {name}: {title.split(': ', 1)[-1]} (model card: {card})")
        stored = read_meta(bundled_model(name)).get("instances") or {}
        settings = ", ".join(f"{k} {stored[k]:g}" for k in CALIBRATED if k in stored)
        if settings:   # count's defaults for this model (--threshold, --min-score, ... override them)
            print(f"    count settings: {settings}")


# each subcommand's runner: the parsers above define the options, these call the importable core with them
COMMANDS = {"train": _train, "predict": _predict, "count": _count, "track": _track, "evaluate": _evaluate,
            "demo": _demo, "tune": _tune, "calibrate": _calibrate, "export": _export, "plan": _plan, "models": _models}


def _run(args) -> int:
    COMMANDS[args.command](args)
    return 0

if __name__ == "__main__":
    sys.exit(main())
