"""``Predictor``: a loaded model plus what it needs to turn pixels into probabilities.

Shared by in-memory prediction (``prediction``, ``counting``) and block-wise
prediction (``blocks``), so both feed the model the same way.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from . import _backend  # noqa: F401
from .checkpoint import input_multiple, load_model
from .config import PredictConfig, check_predict
from .data.prepare import prepare, resized, scaled_shape
from .errors import UnetkitError


@dataclass
class Predictor:
    """A loaded model and what it needs to turn a file into probabilities."""
    model: object
    meta: dict
    cfg: PredictConfig
    spec: str | None = None        # where the model came from (run folder, .keras, bundled name): lets workers load it
    heads: str = "main"            # main: the task's probabilities; all: the auxiliary head too, as the last channel
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self):
        check_predict(self.cfg)

    @classmethod
    def load(cls, spec, cfg: PredictConfig | None = None) -> "Predictor":
        model, meta = load_model(spec)
        return cls(model, meta, cfg or PredictConfig(), spec=str(spec))

    @property
    def multiple(self) -> int:
        """The network's input size divisor (``checkpoint.input_multiple``)."""
        return input_multiple(self.meta)

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    def batch(self, x: np.ndarray) -> np.ndarray:
        with self.lock:  # one call at a time: the backend already uses every core for one
            out = np.asarray(self.model.predict_on_batch(x))
        if self.meta.get("aux") and self.heads == "main":
            return out[..., :-1]  # the main head; the auxiliary one trains it (and seeds instances: heads="all")
        return out

    def outputs(self) -> int:
        """Number of output channels K (1 for a sigmoid model), from one tiny forward pass."""
        m = self.multiple
        return int(self.batch(np.zeros((1, m, m, self.channels), np.float32)).shape[-1])

    def check_size(self, path, shape) -> None:
        if min(shape[:2]) < self.multiple:
            raise UnetkitError(f"{path}: image is {shape[0]}x{shape[1]}, smaller than the network's minimum "
                               f"{self.multiple}x{self.multiple}; pad or enlarge it")

    def prepare(self, native: np.ndarray) -> np.ndarray:
        """Native image -> normalised model input, with the model's channels and polarity."""
        return prepare(native, self.channels, self.meta["norm"], self.meta.get("invert", "never"))

    @property
    def scale(self) -> float:
        """The working scale the model was trained at (1 = full resolution; see training_data.working_scale)."""
        return float(self.meta.get("scale", 1.0) or 1.0)

    def probabilities(self, x: np.ndarray, progress=None, scale: float | None = None,
                      map_back: bool = True, smoothing=None) -> np.ndarray:
        """(H, W, K) probabilities of an image held in memory; K = 1 for a sigmoid model.

        A model trained at a working scale s sees the image resized by s (or by ``scale``,
        e.g. from an object-size estimate), and its probabilities are resized back to
        (H, W) unless ``map_back`` is False. Its tiles are smoothed by ``smoothing`` (``self.smoothing``
        of the image at that scale, measured here unless the caller has it)."""
        import cv2

        from .tiling import predict_tiled
        scale = self.scale if scale is None else float(scale)
        h, w = x.shape[:2]
        batch = self.smoothed(self.smoothing(x, scale) if smoothing is None else smoothing)
        if scale != 1.0:
            self.check_size(f"image at scale {scale:g}", scaled_shape((h, w), scale))   # before allocating it
            x = resized(x, scale)
        probs = predict_tiled(batch, x, tile=self.cfg.tile, overlap=self.cfg.overlap, multiple=self.multiple,
                              batch_size=self.cfg.batch_size, tta=self.cfg.tta, progress=progress)
        if scale != 1.0 and map_back:
            probs = cv2.resize(probs, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
        return probs

    def smoothing(self, x: np.ndarray | None, scale: float):
        """``noise.choose`` for a normalised image ``x`` (its central window) seen at ``scale``, with the
        user's ``denoise`` and the model's training noise (``x`` may be None where ``noise.needs_window`` is not)."""
        from .noise import central_window, choose, needs_window
        choice, ceiling, window = str(self.cfg.denoise), self.meta.get("noise"), None
        if needs_window(choice, ceiling):
            y0, y1, x0, x1 = central_window(x.shape[:2], scale)
            window = resized(x[y0:y1, x0:x1], scale)
        return choose(window, choice, ceiling)

    def smoothed(self, smoothing):
        """``batch``, with each tile smoothed first (``noise.Smoothing``; the tiles of both prediction paths)."""
        return self.batch if not smoothing else (lambda x: self.batch(smoothing.apply(x)))

    @property
    def keep(self) -> str:
        """all, or largest: one region per image (the model's training data said so; see plan.py)."""
        return self.cfg.keep if self.cfg.keep != "auto" else self.meta.get("keep") or "all"

    @property
    def threshold(self) -> float:
        """Foreground probability: the user's, else the model's (thresholds.py), else 0.5."""
        if self.cfg.threshold is not None:
            return float(self.cfg.threshold)
        return float(self.meta.get("threshold") or 0.5)

    def classes(self, probs: np.ndarray) -> np.ndarray:
        if probs.shape[-1] == 1:
            mask = probs[..., 0] >= self.threshold
            return (largest_region(mask) if self.keep == "largest" else mask).astype(np.uint8)
        return probs.argmax(-1).astype(np.uint8)


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected foreground region of a 2D mask, its holes filled."""
    from scipy import ndimage
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    biggest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    return ndimage.binary_fill_holes(labels == biggest)
