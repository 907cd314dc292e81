"""Prediction: load a model, predict files at full resolution, write outputs.

For each input image ``NAME``, a single 2D plane up to ``BlockConfig.max_pixels``:
``NAME_prob.tif`` (or .npy) with the foreground (or per-class) probabilities,
``NAME_mask.png`` (0/255 for binary, class index otherwise) and ``NAME_overlay.png``.
Larger planes, z-stacks and time series go block by block (``unetkit.blocks``) into
``NAME_prob.ome.zarr`` and ``NAME_mask.ome.zarr`` (multiscale), with a preview
``NAME_overlay.png``. The overlay is written last: an image whose overlay exists is done.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from . import _backend  # noqa: F401
from .batch import collect_inputs, image_stem, raise_failures, run_batch
from .config import BlockConfig, PredictConfig
from .errors import SetupError, UnetkitError
from .io import is_sequence, open_image, write_image
from .noise import describe
from .planes import AxisChoice, model_input, native_params, select
from .predictor import Predictor
from .progress import Progress, plural

OUTPUT_SUFFIXES = ("_prob.tif", "_prob.npy", "_mask.png", "_overlay.png")
BLOCK_SUFFIXES = ("_prob.ome.zarr", "_mask.ome.zarr", "_overlay.png")


def check_out_dir(out: Path, files: list[Path], overwrite: bool, suffixes=OUTPUT_SUFFIXES,
                  skip_existing: bool = False) -> None:
    """Refuse to overwrite an earlier run's outputs or any input file, and to write into a folder of inputs (its
    next run would read the overlays, label images and histograms as images to predict)."""
    if out.exists() and not out.is_dir():
        raise UnetkitError(f"{out}: exists and is not a folder; choose another --out")
    # a folder of images counted as one (--sequence) holds inputs too
    if out.resolve() in {f.resolve().parent for f in files} | {f.resolve() for f in files if f.is_dir()}:
        raise UnetkitError(f"{out}: holds input images; outputs written there would be read as images by the next "
                           "run on that folder: choose another --out")
    for f in files:
        for suffix in suffixes:
            target = out / f"{image_stem(f)}{suffix}"
            if target.exists() and not (overwrite or skip_existing):
                raise UnetkitError(f"{target}: already exists from an earlier run; choose another --out, pass "
                                   "--skip-existing to continue that run, or --overwrite")


def use_blocks(sel, bcfg: BlockConfig) -> bool:
    """Block-wise for large planes, z-stacks and time series (or as the user says)."""
    if bcfg.mode not in ("auto", "always", "never"):
        raise SetupError(f"--blocks {bcfg.mode}: choose auto, always or never")
    if bcfg.mode == "never":   # in memory is one plane: the others would go unseen
        sel.require_one_plane("--blocks never predicts one plane in memory: leave --blocks auto (z-stacks and "
                              "time series go block by block)")
    if bcfg.mode != "auto":
        return bcfg.mode == "always"
    h, w = sel.yx
    return len(sel.planes) > 1 or h * w > bcfg.max_pixels


def load_plane(predictor: Predictor, sel, path, nan: str = "refuse") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(native image, model input, non-finite mask) of a single small plane, in memory."""
    sel.require_one_plane("one 2-D plane is needed here")
    native = sel.plane(0, 0).whole()
    return (native, *plane_input(predictor, native, path, nan))


def plane_input(predictor: Predictor, native: np.ndarray, path, nan: str = "refuse") -> tuple[np.ndarray, np.ndarray | None]:
    """(model input, non-finite mask) of one plane held in memory: size checked against the network, NaN/inf
    refused (or masked), the model's normalisation and polarity from the plane's own statistics."""
    predictor.check_size(path, native.shape)
    meta = predictor.meta
    params, bad = native_params(path, native, predictor.channels, meta["norm"], meta.get("invert", "never"), nan)
    return model_input(native, predictor.channels, params, bad), bad


def one_plane(image, name) -> np.ndarray:
    """``image`` as an array, if it is one 2-D plane, gray (H, W) or colour (H, W, 3|4): the in-memory functions
    take one plane, and a stack's axes cannot be guessed (a z-stack is not three colour channels)."""
    image = np.asarray(image)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise UnetkitError(f"{name}: an image of shape {image.shape} is not one 2-D plane, gray or RGB; pass one "
                           "plane (files with z-stacks or time series go through 'unetkit predict' or 'count')")
    return image


def plane_outputs(predictor: Predictor, x: np.ndarray, bad: np.ndarray | None, smoothing=None):
    """(probabilities (H, W, K) float32, classes (H, W) uint8) of one plane's model input; pixels that were
    NaN/inf (``--nan mask``) are background."""
    probs = predictor.probabilities(x, smoothing=smoothing)
    if bad is not None:
        probs[bad] = 0.0
    return probs, predictor.classes(probs)


def segment_array(model, image, *, cfg: PredictConfig | None = None, name: str = "image",
                  nan: str = "refuse") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, classes) of one 2-D image held in memory, exactly as ``predict`` computes them for a file:
    the model's normalisation, polarity and working scale, overlap-tile, smoothing of noise the model never saw.
    probabilities: (H, W, K) float32, K = 1 for a one-channel model (its foreground); classes: (H, W) uint8, 0/1
    at the model's threshold (its largest region where the model keeps one) or the most probable class.
    ``model``: a ``Predictor``, run folder, .keras file or bundled name; ``name`` goes into error messages;
    ``nan="mask"`` predicts NaN/inf pixels as background instead of refusing them.
    Memory: the image, its model input and its probabilities (one plane; slides go block by block through
    ``predict`` on their file)."""
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, cfg)
    x, bad = plane_input(predictor, one_plane(image, name), name, nan)
    return plane_outputs(predictor, x, bad)


def predict(model, inputs, out_dir, cfg: PredictConfig | None = None, *, overwrite: bool = False,
            verbose: bool = True, choice: AxisChoice | None = None, blocks: BlockConfig | None = None,
            axes: str | None = None, on_error: str = "skip", skip_existing: bool = False) -> list[Path]:
    """Predict every input and write probability, mask and overlay outputs; returns the mask paths.

    ``choice`` says which channels and how z is handled (``planes.AxisChoice``), ``axes``
    names the axes of files that do not (e.g. "ZYX"), ``blocks`` sets block-wise prediction.
    A bad file is reported and skipped (``on_error="stop"`` stops instead); ``skip_existing``
    continues an interrupted run without redoing finished images."""
    from .viz import display_image, overlay
    predictor = model if isinstance(model, Predictor) else Predictor.load(model, cfg)
    cfg, choice, bcfg = predictor.cfg, choice or AxisChoice(), blocks or BlockConfig()
    files = collect_inputs(inputs, sequences=is_sequence(axes))
    out = Path(out_dir)
    check_out_dir(out, files, overwrite, OUTPUT_SUFFIXES + BLOCK_SUFFIXES, skip_existing)
    out.mkdir(parents=True, exist_ok=True)
    from .run_record import RecordWriter, run_record
    effective = {**dataclasses.asdict(cfg), "threshold": predictor.threshold, "keep": predictor.keep}
    record = RecordWriter(out, run_record("predict", predictor.spec, files, predict=effective, axes=axes,
                                          planes=choice, blocks=bcfg), overwrite and not skip_existing)
    bar = Progress(len(files), "images", enabled=verbose)

    def one(f: Path) -> Path:
        t0 = time.time()
        stem = image_stem(f)
        if skip_existing and (out / f"{stem}_overlay.png").exists():
            bar.step(f"{f.name}: done in an earlier run, skipped")
            done = out / f"{stem}_mask.png"
            return done if done.exists() else out / f"{stem}_mask.ome.zarr"
        sel = select(open_image(f, axes), predictor.channels, choice)
        if use_blocks(sel, bcfg):
            from .blocks.predict import predict_image
            record.write()
            mask_path = predict_image(predictor, f, out, stem, choice, bcfg, axes=axes,
                                      overwrite=overwrite or skip_existing, verbose=verbose)
            bar.step(f"{f.name}: {sel.image.describe()} block-wise in {time.time() - t0:.2f} s")
            return mask_path
        native, x, bad = load_plane(predictor, sel, f, choice.nan)
        smoothing = predictor.smoothing(x, predictor.scale)   # the noise the model never saw (noise.py)
        probs, cls = plane_outputs(predictor, x, bad, smoothing)
        prob_out = probs[..., 0] if probs.shape[-1] == 1 else probs
        record.write()   # before the first output: predict.yaml says what made them
        write_image(out / f"{stem}_prob.{cfg.prob_format}", prob_out.astype(np.float32))
        mask = cls * 255 if probs.shape[-1] == 1 else cls
        written = write_image(out / f"{stem}_mask.png", mask.astype(np.uint8))
        write_image(out / f"{stem}_overlay.png", overlay(display_image(np.nan_to_num(native)), cls))
        said = f", {describe(smoothing)}" if smoothing else ""
        bar.step(f"{f.name}: {native.shape[1]}x{native.shape[0]} px{said} in {time.time() - t0:.2f} s")
        return written

    written, failures = run_batch(files, one, on_error=on_error)
    if written:   # a batch whose every file failed says so in its error alone
        bar.close(f"wrote {plural(len(written), 'prediction')} to {out}")
    raise_failures(failures, len(files))
    return written
