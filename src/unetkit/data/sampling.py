"""Batches for training and validation, as Keras ``PyDataset``s.

Targets are packed as (B, H, W, 2): channel 0 the class index, channel 1 the pixel
weight (ones unless the loss is border-weighted). One target layout for every loss
and metric keeps them simple and backend-neutral.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import keras
import numpy as np

from .augment import AugmentConfig, intensity, remap, sampling_map


@dataclass
class Sample:
    name: str
    image: np.ndarray    # float32 (H, W, C), normalised
    labels: np.ndarray   # uint8 (H, W), class indices
    objects: np.ndarray | None = None  # int32 (H, W) instance ids, for the weight map
    weights: np.ndarray | None = None  # float32 (H, W) or None for all ones
    aux: np.ndarray | None = None      # float32 (H, W) target of a multi-task head (e.g. the distance map)
    aux_weight: float = 1.0
    group: str = ""      # appearance group, for balanced sampling across modalities


def appearance(native: np.ndarray) -> str:
    """Coarse modality of a raw image: colour or gray, bright or dark background.

    DSB 2018-like sets mix gray fluorescence (dark background), brightfield (gray, bright)
    and H&E (colour, bright); the rare kinds need more draws than their share of files.
    """
    from .prepare import is_color, normalize, to_channels
    gray = normalize(to_channels(native, 1))
    return ("colour" if is_color(native) else "gray") + ("-bright" if np.median(gray) > 0.5 else "-dark")


def draw_probabilities(samples: list[Sample], balance: str = "none") -> np.ndarray:
    """Probability of drawing each sample for a patch.

    By sqrt(area): big images give more patches, small ones still appear. With
    ``balance="appearance"`` each appearance group's share is proportional to sqrt(group
    size) instead of its size, so rare modalities are seen more often without dominating.
    """
    p = np.sqrt(np.array([s.labels.size for s in samples], np.float64))
    if balance == "appearance":
        groups = [s.group for s in samples]
        for g in set(groups):
            idx = np.array([k for k, h in enumerate(groups) if h == g])
            p[idx] *= np.sqrt(len(idx)) / p[idx].sum()
    elif balance != "none":
        raise ValueError(f"unknown balance {balance!r}: use none or appearance")
    return p / p.sum()


def pack_target(labels: np.ndarray, weights: np.ndarray | None, aux: np.ndarray | None = None,
                aux_weight: float = 1.0) -> np.ndarray:
    """(H, W, 2) class + weight, or (H, W, 4) with a multi-task head's target and loss weight."""
    w = np.ones(labels.shape, np.float32) if weights is None else weights.astype(np.float32)
    planes = [labels.astype(np.float32), w]
    if aux is not None:
        planes += [aux.astype(np.float32), np.full(labels.shape, aux_weight, np.float32)]
    return np.stack(planes, axis=-1)


class PatchDataset(keras.utils.PyDataset):
    """Random augmented training samples.

    ``mode="patch"``: full-resolution random crops of ``size`` (keeps thin structures).
    ``mode="resize"``: whole image resized to ``size`` (the seeds' recipe, for parity).
    Each (epoch, batch) gets its own seeded generator, so runs are reproducible and
    resumable.
    """

    def __init__(self, samples: list[Sample], *, size: int, batch_size: int, steps: int,
                 augment: AugmentConfig, mode: str = "patch", seed: int = 0, balance: str = "none", **kwargs):
        super().__init__(**kwargs)
        self.samples, self.size, self.batch_size, self.steps = samples, size, batch_size, steps
        self.augment, self.mode, self.seed, self.epoch = augment, mode, seed, 0
        self.p = draw_probabilities(samples, balance)

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        s = self.samples[rng.choice(len(self.samples), p=self.p)]
        h, w = s.labels.shape
        if self.mode == "resize":
            center, scale = ((h - 1) / 2, (w - 1) / 2), (h / self.size, w / self.size)
        else:
            center, scale = (rng.uniform(0, h - 1), rng.uniform(0, w - 1)), (1.0, 1.0)
        mx, my = sampling_map((self.size, self.size), center, self.augment, rng, scale)
        lab = remap(s.labels, mx, my, nearest=True)
        img = intensity(remap(s.image, mx, my, nearest=False), self.augment, rng, lab)
        wts = None if s.weights is None else remap(s.weights, mx, my, nearest=False)
        aux = None if s.aux is None else remap(s.aux, mx, my, nearest=False)
        return img, pack_target(lab, wts, aux, s.aux_weight)

    def __getitem__(self, idx):
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        xs, ys = zip(*(self.draw(rng) for _ in range(self.batch_size)))
        return np.stack(xs), np.stack(ys)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of ``tile`` at most ``stride`` apart."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


def pad_to(arr: np.ndarray, size: int) -> np.ndarray:
    """Mirror-pad the first two axes up to at least ``size``."""
    h, w = arr.shape[:2]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph == 0 and pw == 0:
        return arr
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, pad, mode="symmetric")


class TileDataset(keras.utils.PyDataset):
    """Deterministic validation batches: each image cut into ``size`` tiles (or resized
    to ``size`` in resize mode), so every validation pixel counts once per epoch."""

    def __init__(self, samples: list[Sample], *, size: int, batch_size: int, mode: str = "patch", **kwargs):
        super().__init__(**kwargs)
        xs, ys = [], []
        for s in samples:
            if mode == "resize":
                xs.append(_resize(s.image, size, cv2.INTER_AREA))
                lab = _resize(s.labels, size, cv2.INTER_NEAREST)
                wts = None if s.weights is None else _resize(s.weights, size, cv2.INTER_LINEAR)
                aux = None if s.aux is None else _resize(s.aux, size, cv2.INTER_LINEAR)
                ys.append(pack_target(lab, wts, aux, s.aux_weight))
                continue
            img, lab = pad_to(s.image, size), pad_to(s.labels, size)
            wts = None if s.weights is None else pad_to(s.weights, size)
            aux = None if s.aux is None else pad_to(s.aux, size)
            for y0 in tile_starts(img.shape[0], size, size):
                for x0 in tile_starts(img.shape[1], size, size):
                    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
                    xs.append(img[sl])
                    ys.append(pack_target(lab[sl], None if wts is None else wts[sl],
                                          None if aux is None else aux[sl], s.aux_weight))
        self.x, self.y, self.batch_size = np.stack(xs), np.stack(ys), batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, idx):
        sl = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.x[sl], self.y[sl]


def _resize(arr, size, interp):
    out = cv2.resize(arr, (size, size), interpolation=interp)
    return out[..., None] if arr.ndim == 3 and out.ndim == 2 else out
