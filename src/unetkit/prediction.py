"""Prediction: load a model, predict files at full resolution, write outputs.

For each input image ``NAME``: ``NAME_prob.tif`` (or .npy) with the foreground (or
per-class) probabilities, ``NAME_mask.png`` (0/255 for binary, class index otherwise)
and ``NAME_overlay.png``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _backend  # noqa: F401
from .checkpoint import load_model
from .config import PredictConfig
from .data.io import is_image_file, prepare, read_array, write_image
from .errors import UnetkitError
from .progress import Progress

OUTPUT_SUFFIXES = ("_prob.tif", "_prob.npy", "_mask.png", "_overlay.png")


@dataclass
class Predictor:
    """A loaded model and what it needs to turn a file into probabilities."""
    model: object
    meta: dict
    cfg: PredictConfig

    @classmethod
    def load(cls, spec, cfg: PredictConfig | None = None) -> "Predictor":
        model, meta = load_model(spec)
        return cls(model, meta, cfg or PredictConfig())

    def _batch(self, x):
        return self.model.predict_on_batch(x)

    def prepare(self, path) -> tuple[np.ndarray, np.ndarray]:
        """(native image, normalised model input) for a file; checks the minimum size."""
        native = read_array(path)
        minimum = 2 ** self.meta["depth"]
        if min(native.shape[:2]) < minimum:
            raise UnetkitError(f"{path}: image is {native.shape[0]}x{native.shape[1]}, smaller than the network's "
                               f"minimum {minimum}x{minimum}; pad or enlarge it")
        x = prepare(native, self.meta["channels"], self.meta["norm"], self.meta.get("invert", "never"))
        return native, x

    def probabilities(self, x: np.ndarray, progress=None) -> np.ndarray:
        """(H, W, K) probabilities; K = 1 for a sigmoid model."""
        from .tiling import predict_tiled
        return predict_tiled(lambda b: np.asarray(self._batch(b)), x, tile=self.cfg.tile, overlap=self.cfg.overlap,
                             multiple=2 ** self.meta["depth"], batch_size=self.cfg.batch_size, tta=self.cfg.tta,
                             progress=progress)

    def classes(self, probs: np.ndarray) -> np.ndarray:
        if probs.shape[-1] == 1:
            return (probs[..., 0] >= self.cfg.threshold).astype(np.uint8)
        return probs.argmax(-1).astype(np.uint8)


def collect_inputs(inputs) -> list[Path]:
    """Files named directly, plus the image files of any folder named."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_image_file(q))
            if not found:
                raise UnetkitError(f"{p}: no image files in this folder; check the path")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise UnetkitError(f"{p}: input not found; check the path")
    if not files:
        raise UnetkitError("no input images given")
    return files


def check_out_dir(out: Path, files: list[Path], overwrite: bool, suffixes=OUTPUT_SUFFIXES) -> None:
    """Refuse to overwrite an earlier run's outputs or any input file."""
    if out.exists() and not out.is_dir():
        raise UnetkitError(f"{out}: exists and is not a folder; choose another --out")
    inputs = {f.resolve() for f in files}
    for f in files:
        for suffix in suffixes:
            target = out / f"{f.stem}{suffix}"
            if target.resolve() in inputs:
                raise UnetkitError(f"{target}: would overwrite an input file; choose another --out")
            if target.exists() and not overwrite:
                raise UnetkitError(f"{target}: already exists from an earlier run; choose another --out or pass --overwrite")


def predict(model, inputs, out_dir, cfg: PredictConfig | None = None, *, overwrite: bool = False,
            verbose: bool = True) -> list[Path]:
    """Predict every input file and write probability, mask and overlay files; returns the mask paths."""
    from .viz import display_image, overlay
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, cfg)
    cfg = predictor.cfg
    files = collect_inputs(inputs)
    out = Path(out_dir)
    check_out_dir(out, files, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    bar = Progress(len(files), "images", enabled=verbose)
    written = []
    for f in files:
        t0 = time.time()
        native, x = predictor.prepare(f)
        probs = predictor.probabilities(x)
        cls = predictor.classes(probs)
        prob_out = probs[..., 0] if probs.shape[-1] == 1 else probs
        write_image(out / f"{f.stem}_prob.{cfg.prob_format}", prob_out.astype(np.float32))
        mask = cls * 255 if probs.shape[-1] == 1 else cls
        written.append(write_image(out / f"{f.stem}_mask.png", mask.astype(np.uint8)))
        write_image(out / f"{f.stem}_overlay.png", overlay(display_image(native), cls))
        bar.step(f"{f.name}: {native.shape[1]}x{native.shape[0]} px in {time.time() - t0:.2f} s")
    bar.close(f"wrote {len(files)} predictions to {out}")
    return written
