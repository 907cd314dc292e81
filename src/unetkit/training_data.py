"""Training pairs to training samples: each pair read and checked once, resized to the scale it trains at
(the plan's working scale, or for a fine-tune the object size ``count`` will show it), its targets, and the
border weight maps of the loss."""
from __future__ import annotations

import numpy as np

from .config import RunConfig
from .data.pairs import load_pair, resize_pair
from .data.prepare import prepare
from .data.sampling import Sample, appearance
from .data.targets import distance_target, make_targets
from .data.weightmap import border_weight_map, class_weights
from .errors import UnetkitError
from .network import size_divisor, target_classes


def read_pairs(pairs, cfg: RunConfig) -> list[tuple]:
    """(pair, native image, labels) for every pair, checked; each file is read once."""
    min_side = size_divisor(cfg)
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


def working_scale(cfg: RunConfig, samples) -> float:
    """The scale the network sees images at: ``data.scale`` for patches (1 = full resolution,
    the images were resized by it at load); with ``resize`` sampling (the seeds' recipe) patch
    size / the training images' median side. Stored with the model so prediction works at the
    same scale instead of a silent mismatch."""
    if cfg.data.sampling != "resize" or not samples:
        return float(cfg.data.scale)
    side = float(np.median([np.sqrt(s.labels.shape[0] * s.labels.shape[1]) for s in samples]))
    return round(cfg.data.patch_size / side, 6)


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
