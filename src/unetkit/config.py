"""Every setting of a run, one dataclass per step, with YAML in and out.

All defaults live here. ``PRESETS`` holds named overrides: ``seed`` reproduces the
seeds' recipe (64-filter U-Net, Adam 1e-4, BCE, batch 2, whole images resized to 256).
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .errors import UnetkitError


@dataclass
class AugmentConfig:
    rotation: float = 180.0      # degrees, uniform in [-r, r]
    shear: float = 5.0           # degrees
    zoom: float = 0.1            # scale in [1-z, 1+z]
    hflip: bool = True
    vflip: bool = True
    elastic_prob: float = 0.5    # chance of the paper's elastic deformation per sample
    elastic_sigma: float = 10.0  # px, std of the coarse-grid displacements (paper: 10)
    elastic_grid: int = 3        # coarse grid points per side (paper: 3x3)
    brightness: float = 0.1      # additive, in normalised units
    contrast: float = 0.1        # multiplicative around the mean
    gamma: float = 0.2           # exponent in [1-g, 1+g] on clipped intensities
    noise: float = 0.02          # Gaussian noise std, normalised units
    texture: float = 0.0         # chromatin-like grain: x (1 + a * smoothed noise), a uniform in [0, texture], grain
                                 # 1-4 px (new microscopes show textured nuclei DSB 2018 rarely has; off by default)
    shading: float = 0.0         # uneven brightness: x a smooth field in [1 - shading, 1] (30-60 px wide), so dim
                                 # nuclei lie beside bright ones (off by default)
    shot_noise: float = 0.0      # photon shot noise: x + N(0, sqrt(x / p)), p log-uniform in [s, 100 s] photons at a
                                 # normalised 1.0 (dim live-cell frames are grainy where DSB 2018 is clean; 0 = off)
    dim_objects: float = 0.0     # each object of half the patches x its own gain in [1 - d, 1] (objects: the target's
                                 # connected class-1 regions), so a dim nucleus touches a bright one (0 = off)
    channel_jitter: float = 0.0  # colour images: per-channel gain in [1-j, 1+j] and shift in [-j/2, j/2] (white
                                 # balance and skin tone differ between images; the plan sets it for colour regions)
    enabled: bool = True


SEED_AUGMENT = dict(  # the seeds' ImageDataGenerator settings (degrees / fractions)
    rotation=0.2, shear=0.05, zoom=0.05, hflip=True, vflip=False, elastic_prob=0.0,
    brightness=0.0, contrast=0.0, gamma=0.0, noise=0.0,
)


@dataclass
class DataConfig:
    images: str | None = None
    masks: str | None = None
    mask_mode: str = "binary"      # binary | classes | instances
    num_classes: int = 2           # classes incl. background (binary: 2 -> one sigmoid output)
    target: str = "classes"        # classes | boundary (background/interior/boundary from instances)
    channels: int | str = "auto"   # 1, 3 or auto (3 if any training image has colour)
    norm: str = "percentile"       # percentile | channel (percentiles per colour channel) | scale | none
    invert: str = "never"          # auto: flip bright-background images (gray input) so objects are bright
    sampling: str = "patch"        # patch (full-resolution crops) | resize (seeds' whole-image resize)
    patch_size: int = 256
    scale: float = 1.0             # working scale: images (and masks) resized by it for training, predictions mapped back
    balance: str = "none"          # none | appearance (draw rare modalities more often: colour/gray x bright/dark)
    val_range: str | None = None   # "A:B" positions in the name-sorted list
    val_files: list[str] | None = None
    val_fraction: float = 0.2


@dataclass
class ModelConfig:
    name: str = "unet"
    base_filters: int = 16         # 64 is the paper's; 16 with batch norm trains ~15x faster on CPU
    depth: int = 4
    dropout: float = 0.5
    batch_norm: bool = True
    upsampling: str = "upsample"
    seed_head: bool = False
    aux: str | None = None         # multi-task: "distance" adds a distance-to-border head (its own loss weight)
    aux_weight: float = 1.0        # weight of the auxiliary head's squared error in the loss


@dataclass
class TrainConfig:
    epochs: int = 200
    steps_per_epoch: int = 50
    batch_size: int = 4
    learning_rate: float = 1e-3
    # cosine decays to 0 over the epochs or the time limit, whichever ends first; the 7-minute ISBI demo
    # scored V_rand 0.983 / mean IoU 0.786 with it against 0.926 / 0.779 at a constant rate (same seed)
    lr_schedule: str = "cosine"    # cosine | constant
    # fraction of the run over which the rate rises linearly from 0 (either schedule). Off by default, also for
    # fine-tuning: on the bundled nuclei model it only delayed the drop continued training starts with by one
    # epoch, and did not make the 10-minute H&E fine-tune pay (benchmarks/README.md, section 13)
    warmup: float = 0.0
    loss: str = "bce"             # measured on ISBI slices 25-29: V_rand 0.92 vs 0.83 (bce_dice), 0.71 (weighted_bce)
    precision: str = "auto"        # auto | float32 | mixed_bfloat16 | mixed_float16
    time_limit: float | None = None  # minutes of wall-clock training (None or 0: no limit)
    early_stopping: int = 30       # epochs without improvement; 0 disables
    monitor: str = "val_mean_iou"
    devices: int = 1               # data parallel: replicas (GPUs; see parallel.py); batch_size is per device
    loader_workers: int = 0        # threads preparing batches ahead of the step; 0 = half the cores, 2..8
    jit: str = "auto"              # XLA compilation of the step: auto (Keras' choice: on where every layer allows
                                   # it) | on | off; on a float32 CPU on and off ran at the same speed (benchmarks, 10)
    steps_per_execution: int = 1   # training steps inside one compiled call (fewer Python round trips)
    tensorboard: bool = False      # TensorBoard logs in RUN/tensorboard (tensorboard --logdir RUN/tensorboard)
    init: str | None = None        # fine-tune: start from this model's weights (run folder, .keras, bundled name)
    freeze: str = "none"           # with init: none | encoder (train the decoder only; models/blocks.freeze_encoder)
    # with init: best.keras = mix x the fine-tuned weights + (1 - mix) x the start model's (WiSE-FT, mixing.py);
    # 1 = the fine-tuned weights alone. The finetune preset mixes half and half: on 8 held-out H&E images the mix
    # scored above the fine-tuned model alone in all three runs (benchmarks/README.md, 13)
    mix: float = 1.0
    # with init on instance labels: tune each image at the object size count will show it at (the start model's
    # diameter where the image's median object is outside count's band, its own size inside it; training.
    # matched_scales). Off trains every image at its own size: on big textured nuclei the mix then scored
    # F1 0.695 and 0.707 on two splits, matched 0.779 and 0.803; on H&E the two tied (benchmarks/README.md, 22)
    match_diameter: bool = True
    # checkpoints hold an exponential moving average of the weights (Polyak averaging; Keras' optimizer use_ema),
    # this momentum per step, 0 = off: validation scores and saves the average, training steps the raw weights.
    # Off by default: continuing the bundled nuclei model with it tied, and 10-minute H&E fine-tunes with it lost
    # F1 (benchmarks/README.md, 16)
    ema: float = 0.0
    choose_threshold: bool = False  # after training, choose the foreground threshold on the validation images and
                                    # store it with the model (one-channel models; the plan sets it for regions)
    seed: int = 0
    class_balance: bool = True     # weighted_bce: w_c balances class frequencies (the paper's); off = border term only
    w0: float = 10.0               # border weight of the paper's weight map
    sigma: float = 5.0             # px
    contacts: bool = False         # the border term also on objects' pixels that touch another object: instance
                                   # masks often join nuclei with no background between them, where the paper's
                                   # term (background only) leaves the contact at weight 1


@dataclass
class PredictConfig:
    tile: int = 512
    overlap: int = 64
    batch_size: int = 2
    tta: bool = False
    threshold: float | None = None  # foreground probability; None: the model's (chosen on its validation images,
                                    # see thresholds.py), else 0.5
    prob_format: str = "tif"       # tif | npy
    keep: str = "auto"             # all | largest: keep the largest foreground region, holes filled (one lesion or
                                   # organ per image; the plan chooses it, the model stores it) | auto: the model's
    denoise: str = "auto"          # auto: smooth images noisier than the model's training images (noise.py; models
                                   # that record no ceiling: none) | off | a Gaussian sigma in px at the working scale


# count, and calibrate (which chooses count's thresholds on the same probabilities), average the four flips by
# default: with the bundled nuclei model F1 at IoU 0.5 rose by 0.005 / 0.007 / 0.005 on the dev split and on 40 and
# 60 new DSB 2018 samples, at 4x the prediction time (benchmarks/README.md, 16). predict leaves it to --tta.
COUNT_TTA = True


@dataclass
class InstanceConfig:
    split: str = "watershed"
    threshold: float = 0.5        # foreground probability
    marker_threshold: float = 0.3  # interior probability for watershed seeds (boundary models; tuned on the DSB dev split)
    min_distance: int = 4         # px between distance-transform peaks (binary models)
    min_size: int = 15            # px; smaller objects are dropped
    smooth: float = 0.0           # px, Gaussian sigma on the seed map before seeding (0 = off; a model may store its
                                  # own: the bundled nuclei model 2, so texture does not seed one nucleus twice)
    min_marker: int = 4           # px; smaller seeds are dropped (noise would split an object)
    seeds: str = "auto"           # watershed seeds: interior (probability), distance (the model's distance head),
                                  # auto = distance where the model has that head, else interior
    distance_threshold: float = 0.5  # predicted distance to the border (1 = centre) above which a pixel seeds
    max_hole: int = 30            # px; smaller holes are filled
    min_score: float = 0.0        # drop objects whose score (highest interior probability inside them, foreground
                                  # for binary models) is under it: StarDist's probability threshold per object;
                                  # 0 = keep all. The bundled nuclei model stores its own (benchmarks/README.md 28)
    diameter: str | float = "auto"  # typical object diameter in px: "auto" estimates it (models that know their
                                    # training diameter), a number fixes it, "off" predicts at the model's own scale


Z_MODES = ("slices", "max")
T_MODES = ("frames", "track", "lineage")
TRACKED = ("track", "lineage")   # time modes that link frames (a row per track in NAME_tracks.csv)
NAN_POLICIES = ("refuse", "mask")
MATCH_RULES = ("iou", "ctc")   # evaluate --tracks --match: IoU >= 0.5, or the Cell Tracking Challenge's coverage


@dataclass
class AxisChoice:
    """The user's answer to 'which planes': channel names/indices, z handling, axes override."""
    channel: list | None = None     # names or indices; None = the image must have one channel (or RGB colour)
    z: str | None = None            # None (a z-stack is refused) | slices | max
    nan: str = "refuse"             # refuse | mask (NaN/inf pixels predicted as background)
    t: str = "frames"               # frames (each on its own) | track (count: objects linked frame to frame) |
    #                                 lineage (tracks that also divide, each daughter a track with its parent)


@dataclass
class BlockConfig:
    """Block-wise prediction of large or multi-plane images (``unetkit.blocks``)."""
    mode: str = "auto"             # auto (blocks above max_pixels, or any z-stack/time series) | always | never
    max_pixels: int = 4096 * 4096  # auto: larger planes go block by block (in-memory peak ~1.8 GB at this size)
    block_size: int = 4096         # px per block side; a multiple of chunk. Larger blocks re-predict fewer tiles
    chunk: int = 1024              # px per OME-Zarr chunk side
    label_block: int = 2048        # px per block side when labelling (watershed and measuring need ~100 B/px)
    halo: int = 128                # px of probabilities around a block when labelling: objects up to this size
    scheduler: str | None = None   # dask.distributed scheduler address; None = local threads
    workers: int | None = None     # local threads (default min(cores, 4))


@dataclass
class ExportConfig:
    """``unetkit export``: a model for other tools (``unetkit.exporting``)."""
    format: str = "bioimageio"     # bioimageio (a zoo package: Fiji/deepImageJ, QuPath, ilastik, napari) | onnx
    polarity: str = "auto"         # models that invert bright-background images (invert: auto) decide per image;
                                   # a package's pre-processing cannot: bright (objects brighter than the background,
                                   # fluorescence) | dark (brightfield, H&E: inverted after normalisation). auto = bright
                                   # for those models; other models have one polarity and refuse dark
    sample: str | None = None      # an image of the user's own for the package's test tensors and cover (default:
                                   # synthetic cells); cropped to at most crop x crop px from its centre
    crop: int = 256                # px per side of the test image
    name: str | None = None        # the package's name (default: the model's file stem)
    authors: tuple = ("unetkit user",)
    license: str = "CC-BY-4.0"     # an SPDX id; bioimage.io's recommendation for model weights
    opset: int = 17                # ONNX opset (17: ONNX Runtime >= 1.11, deepImageJ and QuPath read it)
    tolerance: float = 1e-4        # largest difference allowed between the exported network's output and Keras's


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path) -> None:
        from .io import write_text
        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


PRESETS: dict[str, dict] = {
    "default": {},
    "seed": {
        "data": {"sampling": "resize", "patch_size": 256, "norm": "scale", "channels": 1},
        "model": {"base_filters": 64, "batch_norm": False, "seed_head": True, "dropout": 0.5},
        "train": {"learning_rate": 1e-4, "lr_schedule": "constant", "loss": "bce", "batch_size": 2, "precision": "float32",
                  "steps_per_epoch": 300, "epochs": 5, "monitor": "val_loss", "early_stopping": 0},
        "augment": dict(SEED_AUGMENT),
    },
    # fine-tuning a model on a few images of one's own (train --init): a short schedule at a lower rate,
    # so the pretrained features are adjusted, not overwritten (benchmarks/README.md, nuclei fine-tuning)
    "finetune": {
        "train": {"learning_rate": 3e-4, "lr_schedule": "cosine", "time_limit": 10.0, "steps_per_epoch": 25,
                  "epochs": 1000, "early_stopping": 0, "mix": 0.5},
    },
}


def merge(cfg: RunConfig, overrides: dict, source: str = "config") -> RunConfig:
    """Apply a nested dict of overrides; unknown keys are an error, not silently ignored."""
    for section, values in (overrides or {}).items():
        if not hasattr(cfg, section) or not isinstance(values, dict):
            raise UnetkitError(f"{source}: unknown section {section!r}; use data, model, train, augment, predict")
        part = getattr(cfg, section)
        names = {f.name for f in dataclasses.fields(part)}
        for key, value in values.items():
            if key not in names:
                raise UnetkitError(f"{source}: unknown setting {section}.{key}; valid: {', '.join(sorted(names))}")
            setattr(part, key, value)
    return cfg


CHOICES = {
    ("data", "mask_mode"): ("binary", "classes", "instances"),
    ("data", "target"): ("classes", "boundary"),
    ("data", "norm"): ("percentile", "channel", "scale", "none"),
    ("data", "invert"): ("auto", "never"),
    ("data", "sampling"): ("patch", "resize"),
    ("data", "balance"): ("none", "appearance"),
    ("model", "upsampling"): ("upsample", "transpose"),
    ("predict", "keep"): ("auto", "all", "largest"),
    ("model", "aux"): (None, "distance"),
    ("train", "lr_schedule"): ("constant", "cosine"),
    ("train", "precision"): ("auto", "float32", "mixed_bfloat16", "mixed_float16"),
    ("train", "jit"): ("auto", "on", "off"),
    ("train", "freeze"): ("none", "encoder"),
}
POSITIVE = {("train", "devices"), ("train", "steps_per_execution"), ("train", "learning_rate"), ("train", "epochs"), ("train", "steps_per_epoch"), ("train", "batch_size"),
            ("data", "patch_size"), ("data", "scale"), ("model", "base_filters"), ("model", "depth"), ("train", "w0"),
            ("train", "sigma"), ("model", "aux_weight")}


def check_predict(cfg: PredictConfig) -> PredictConfig:
    """Refuse tiling and threshold settings that cannot work (they failed deep in the tiling with a traceback, or a
    threshold above 1 wrote empty masks without a word)."""
    for name, value, low in (("--tile", cfg.tile, 16), ("--overlap", cfg.overlap, 0), ("--batch-size", cfg.batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise UnetkitError(f"{name} {value}: must be a whole number of at least {low}")
    if cfg.tile <= 2 * cfg.overlap:
        raise UnetkitError(f"--tile {cfg.tile} must exceed twice --overlap {cfg.overlap}: a tile's outer overlap on "
                           "each side only gives context, so nothing would be left to predict")
    if cfg.threshold is not None and not 0 < cfg.threshold < 1:
        raise UnetkitError(f"--threshold {cfg.threshold}: a probability between 0 and 1 (exclusive)")
    return cfg


def validate(cfg: RunConfig, source: str = "config", whole: bool = True) -> RunConfig:
    """Refuse names that do not exist and values out of range, with the valid choices.

    ``whole=False`` checks a config file before the command line adds to it (``--init``), so
    settings that only make sense with another one are left to the check of the whole run."""
    for (section, key), choices in CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in choices:
            raise UnetkitError(f"{source}: {section}.{key} = {value!r} is not one of "
                               f"{', '.join(str(c) for c in choices)}")
    for section, key in POSITIVE:
        value = getattr(getattr(cfg, section), key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise UnetkitError(f"{source}: {section}.{key} = {value!r} must be a positive number")
    if not 0 <= cfg.data.val_fraction < 1:
        raise UnetkitError(f"{source}: data.val_fraction = {cfg.data.val_fraction} must be a share of the images in "
                           "[0, 1) (0 = no validation images)")
    limit = cfg.train.time_limit   # a negative budget stopped the run after its first step, without a word
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0):
        raise UnetkitError(f"{source}: train.time_limit = {limit!r} must be minutes > 0 (0 or none: no limit)")
    stop = cfg.train.early_stopping
    if isinstance(stop, bool) or not isinstance(stop, int) or stop < 0:
        raise UnetkitError(f"{source}: train.early_stopping = {stop!r} must be a whole number of epochs >= 0 "
                           "(0 = off)")
    if not 0 <= cfg.model.dropout < 1:
        raise UnetkitError(f"{source}: model.dropout = {cfg.model.dropout} must be in [0, 1)")
    if not 0 <= cfg.train.mix <= 1:
        raise UnetkitError(f"{source}: train.mix = {cfg.train.mix} must be in [0, 1] (the fine-tuned model's share)")
    if not 0 <= cfg.train.ema < 1:
        raise UnetkitError(f"{source}: train.ema = {cfg.train.ema} must be a momentum in [0, 1) (0 = off; e.g. 0.999)")
    if not 0 <= cfg.train.warmup < 1:
        raise UnetkitError(f"{source}: train.warmup = {cfg.train.warmup} must be a fraction of the run in [0, 1)")
    if not (isinstance(cfg.augment.texture, (int, float)) and cfg.augment.texture >= 0):
        raise UnetkitError(f"{source}: augment.texture = {cfg.augment.texture!r} must be a grain amplitude >= 0 (0 = off)")
    if not (isinstance(cfg.augment.shading, (int, float)) and 0 <= cfg.augment.shading < 1):
        raise UnetkitError(f"{source}: augment.shading = {cfg.augment.shading!r} must be the most dimming in [0, 1) "
                           "(0 = off)")
    if not (isinstance(cfg.augment.dim_objects, (int, float)) and 0 <= cfg.augment.dim_objects < 1):
        raise UnetkitError(f"{source}: augment.dim_objects = {cfg.augment.dim_objects!r} must be the most dimming of "
                           "one object in [0, 1) (0 = off)")
    if not (isinstance(cfg.augment.shot_noise, (int, float)) and cfg.augment.shot_noise >= 0):
        raise UnetkitError(f"{source}: augment.shot_noise = {cfg.augment.shot_noise!r} must be the fewest photons at a "
                           "normalised 1.0, > 0 (e.g. 100), or 0 = off")
    if whole and not cfg.train.init:
        if cfg.train.freeze != "none":
            raise UnetkitError(f"{source}: train.freeze = {cfg.train.freeze!r} needs a model to start from "
                               "(train --init MODEL); freezing untrained layers would keep them random")
        if cfg.train.mix < 1:
            raise UnetkitError(f"{source}: train.mix = {cfg.train.mix:g} mixes a fine-tuned model with its start: "
                               "it needs train --init MODEL (or mix: 1)")
    from .losses import LOSSES
    if cfg.train.loss not in LOSSES:
        raise UnetkitError(f"{source}: unknown loss {cfg.train.loss!r}; choose one of {', '.join(LOSSES)}")
    from .models import available
    if cfg.model.name not in available():
        raise UnetkitError(f"{source}: unknown model {cfg.model.name!r}; choose one of {', '.join(available())}")
    if cfg.data.channels not in ("auto", 1, 3):
        raise UnetkitError(f"{source}: data.channels = {cfg.data.channels!r} must be 1, 3 or auto")
    return cfg


def load_config(path=None, preset: str = "default") -> RunConfig:
    if preset not in PRESETS:
        raise UnetkitError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    cfg = merge(RunConfig(), PRESETS[preset], f"preset {preset}")
    if path:
        cfg = merge(cfg, read_yaml(path), str(path))
        validate(cfg, str(path), whole=False)
    return cfg


def read_yaml(path) -> dict:
    """A config file's settings as written (sections of key: value), refused with its name when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise UnetkitError(f"{p}: config file not found; check the path")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UnetkitError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UnetkitError(f"{p}: expected sections such as train: and model:, found {type(data).__name__}")
    return data


def from_dict(d: dict) -> RunConfig:
    return merge(RunConfig(), d, "saved config")
