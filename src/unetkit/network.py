"""The network a run's config describes: its architecture and options, its outputs, the patch size it can
take, the metadata it is saved with, and for fine-tuning (``--init``) the start model and what the run takes
from it."""
from __future__ import annotations

from .config import RunConfig, TrainConfig
from .errors import UnetkitError


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


def check_patch_size(cfg: RunConfig) -> None:
    """Before anything is read or written: the network halves the patch ``depth`` times."""
    divisor, size = size_divisor(cfg), cfg.data.patch_size
    if size % divisor:
        near = max(divisor, round(size / divisor) * divisor)
        raise UnetkitError(f"--patch-size {size} must be divisible by the network's size divisor {divisor} "
                           f"(it halves the patch at each level); e.g. {near}")


LOSS_FIELDS = ("loss", "w0", "sigma", "class_balance", "contacts")   # train settings the model records and --init takes


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
    import keras

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
