"""Block-wise prediction of one image into OME-Zarr, with memory that does not grow with it.

Each block is a task: read the input pixels its tiles need (the overlap-tile halo),
normalise them with the whole plane's statistics, predict the tiles of the image's
global ``TilePlan`` that reach the block, blend, and write the block's probabilities and
mask into their OME-Zarr outputs. Peak memory is a few blocks (about 20 bytes per pixel
of a block for a 3-class model), whatever the image size; the result equals the
in-memory path (same tiles, same weights, same order).

A model with a working scale s != 1 (``Predictor.scale``) is predicted on the tile grid of the
image resized by s: each block computes the resized pixels its tiles need from the native
pixels under them and maps its probabilities back, with OpenCV's resize weights taken from
global coordinates (``rescale.py``), so seams stay exact and the result equals the in-memory
resize-predict-resize to float rounding. The native block grid is kept (outputs stay
chunk-aligned); at s < 1 a block's tiles cover more than its core, compute that costs 1/s^2
less than at full resolution. The resized window is built 256 x 256 resized pixels at a time,
so the native pixels held at once stay bounded (about (256 / s)^2) however small s is.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import BlockConfig
from ..data.prepare import scaled_shape
from ..errors import UnetkitError
from ..io import open_image, pixels
from ..planes import AxisChoice, Selection, check_finite, model_input, plane_params, select
from ..predictor import Predictor
from ..tiling import TilePlan, predict_region
from . import engine
from .engine import block_regions
from .omezarr import ZarrOutput


@dataclass
class ImageJob:
    """Everything a worker needs to predict blocks of one image (picklable: paths, not objects)."""
    path: str
    choice: AxisChoice
    axes: str | None
    model_spec: str | None
    model_key: str
    plan: TilePlan
    params: dict
    channels: int
    batch_size: int
    tta: bool
    threshold: float
    outputs: dict = field(default_factory=dict)   # name -> ZarrOutput
    scale: float = 1.0                            # working scale: ``plan`` is the resized image's tile grid
    smoothing: dict = field(default_factory=dict)  # (t, z) -> noise.Smoothing of every tile

    def predictor(self) -> Predictor:
        def load():
            if self.model_spec is None:
                raise UnetkitError("a model object given to the API runs on local threads only; pass a model "
                                   "path (run folder, .keras file or bundled name) to use --scheduler")
            return Predictor.load(self.model_spec)
        return engine.cached(("model", self.model_key), load)

    def selection(self) -> Selection:
        return engine.cached(("image", self.path, self.axes, repr(self.choice)),
                             lambda: select(open_image(self.path, self.axes), self.channels, self.choice))


@dataclass
class BlockTask:
    job: ImageJob
    t: int
    z: int
    region: tuple[int, int, int, int]   # y0, y1, x0, x1 of the block's core


def predict_block(task: BlockTask) -> int:
    """Predict one block and write it; returns its number of masked (non-finite) pixels."""
    job = task.job
    predictor = job.predictor()
    plane = job.selection().plane(task.t, task.z)
    params = job.params[(task.t, task.z)]
    masked = []

    def read(rows, cols):
        native = plane.native(int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
        native = native[rows - rows.min()][:, cols - cols.min()]
        bad = check_finite(plane.path, native, job.choice.nan)
        return model_input(native, job.channels, params, bad)

    y0, y1, x0, x1 = task.region
    batch = predictor.smoothed(job.smoothing.get((task.t, task.z)))
    if job.scale == 1.0:
        probs = predict_region(batch, read, job.plan, task.region, batch_size=job.batch_size, tta=job.tta)
    else:
        probs = _predict_scaled(batch, plane, job, params, task.region)
    floats = np.issubdtype(job.selection().data.dtype, np.floating)
    bad = check_finite(plane.path, plane.native(y0, y1, x0, x1), job.choice.nan) if floats else None
    if bad is not None:  # masked pixels were predicted from a stand-in value: call them background
        probs[bad] = 0.0
        masked.append(int(bad.sum()))
    if "prob" in job.outputs:
        job.outputs["prob"].write(task.t, task.z, y0, x0, probs if probs.shape[-1] > 1 else probs[..., 0])
    if "mask" in job.outputs:
        cls = (probs[..., 0] >= job.threshold) if probs.shape[-1] == 1 else probs.argmax(-1)
        scale = 255 if probs.shape[-1] == 1 else 1
        job.outputs["mask"].write(task.t, task.z, y0, x0, (cls * scale).astype(np.uint8))
    return sum(masked)


def _predict_scaled(batch, plane, job: ImageJob, params, region) -> np.ndarray:
    """Probabilities of a native block from the resized image's tiles (see the module docstring)."""
    from .rescale import resample, resized_window, source_window
    (h, w), (sh, sw) = plane.selection.yx, (job.plan.height, job.plan.width)
    y0, y1, x0, x1 = region

    def read_native(ry0, ry1, rx0, rx1):
        native = plane.native(ry0, ry1, rx0, rx1)
        return model_input(native, job.channels, params, check_finite(plane.path, native, job.choice.nan))

    def read_scaled(rows, cols):   # resized pixels at resized coordinates, from the native pixels under them
        return resized_window(read_native, rows, cols, (h, w), (sh, sw))

    # the resized rows and columns the block's native pixels are interpolated from
    Y0, Y1, back_r = source_window(np.arange(y0, y1), sh, h, "linear")
    X0, X1, back_c = source_window(np.arange(x0, x1), sw, w, "linear")
    small = predict_region(batch, read_scaled, job.plan, (Y0, Y1, X0, X1), batch_size=job.batch_size,
                           tta=job.tta)
    return resample(small, (Y0, back_r), (X0, back_c))


def prepare_job(predictor: Predictor, path: Path, choice: AxisChoice, bcfg: BlockConfig,
                axes: str | None = None) -> tuple[ImageJob, Selection]:
    """Open and check the image, gather each plane's normalisation statistics (refusing
    NaN/inf before anything is written), and fix the global tile grid."""
    img = open_image(path, axes)
    sel = select(img, predictor.channels, choice)
    predictor.check_size(path, sel.yx)
    meta = predictor.meta
    params = {(t, z): plane_params(sel.plane(t, z), predictor.channels, meta["norm"], meta.get("invert", "never"),
                                   choice.nan, block=bcfg.block_size) for t, z in sel.planes}
    cfg = predictor.cfg
    plan = TilePlan.make(sel.yx, cfg.tile, cfg.overlap, predictor.multiple)
    key = f"{predictor.spec}|{id(predictor)}"
    engine.put(("model", key), predictor)          # threads of this process use the object itself
    engine.put(("image", str(path), axes, repr(choice)), sel)
    job = ImageJob(str(path), choice, axes, predictor.spec, key, plan, params, predictor.channels,
                   cfg.batch_size, cfg.tta, predictor.threshold)
    if predictor.scale != 1.0:   # a model trained at a working scale: the resized image's tile grid
        return with_scale(job, predictor, sel.yx, predictor.scale), sel
    return dataclasses.replace(job, smoothing=plane_smoothing(predictor, job, 1.0)), sel


def plane_smoothing(predictor: Predictor, job: ImageJob, scale: float) -> dict:
    """Each plane's smoothing at ``scale`` (``Predictor.smoothing``), from the central window that the
    in-memory path uses, so both paths smooth alike."""
    from ..noise import central_window, needs_window
    sel, out = job.selection(), {}
    y0, y1, x0, x1 = central_window(sel.yx, scale)
    read = needs_window(str(predictor.cfg.denoise), predictor.meta.get("noise"))   # something to measure or stretch
    for t, z in sel.planes:
        window = None
        if read:
            plane = sel.plane(t, z)
            native = plane.native(y0, y1, x0, x1)
            window = model_input(native, job.channels, job.params[(t, z)],
                                 check_finite(plane.path, native, job.choice.nan))
        out[(t, z)] = predictor.smoothing(window, scale)
    return out


def say_smoothing(job: ImageJob, name: str, verbose: bool) -> None:
    """One line where planes of the image are smoothed (noise.py), with the strongest smoothing."""
    from ..noise import describe
    smoothed = [s for s in job.smoothing.values() if s]
    if verbose and smoothed:
        print(f"[unetkit] {name}: {describe(max(smoothed, key=lambda s: s.sigma))} in {len(smoothed)} of "
              f"{len(job.smoothing)} planes", flush=True)


def with_scale(job: ImageJob, predictor: Predictor, yx: tuple[int, int], scale: float) -> ImageJob:
    """The same job on the tile grid of the image resized by ``scale`` (e.g. found by ``count``'s
    diameter estimate)."""
    grid = scaled_shape(yx, scale)
    predictor.check_size(f"{job.path} at scale {scale:g}", grid)
    plan = TilePlan.make(grid, predictor.cfg.tile, predictor.cfg.overlap, predictor.multiple)
    return dataclasses.replace(job, plan=plan, scale=float(scale), smoothing=plane_smoothing(predictor, job, scale))


def output_axes(sel: Selection) -> dict:
    """t and z of the outputs: kept where the input has them (a max projection has no z)."""
    shape = sel.image.shape
    return {"t": shape["T"] if "T" in sel.image.axes else None,
            "z": shape["Z"] if sel.z_mode == "slices" else None}


def run_blocks(job: ImageJob, sel: Selection, bcfg: BlockConfig, verbose: bool, label: str) -> int:
    """Predict every block of every plane; returns the number of masked pixels."""
    if bcfg.block_size % bcfg.chunk:
        raise UnetkitError(f"block size {bcfg.block_size} must be a multiple of the chunk size {bcfg.chunk}")
    tasks = [BlockTask(job, t, z, r) for t, z in sel.planes for r in block_regions(sel.yx, bcfg.block_size)]
    return sum(engine.run(predict_block, tasks, scheduler=bcfg.scheduler, workers=bcfg.workers, label=label,
                          verbose=verbose))


def preview(out: ZarrOutput | Path, max_side: int = 2048) -> tuple[int, np.ndarray]:
    """(level, first plane of the finest pyramid level no larger than ``max_side``) of a finished output."""
    import zarr
    path = out.final if isinstance(out, ZarrOutput) else Path(out)
    group = zarr.open_group(str(path), mode="r")
    level = 0
    while str(level + 1) in group and max(group[str(level)].shape[-2:]) > max_side:
        level += 1
    arr = group[str(level)]
    data = np.asarray(arr[(0,) * (arr.ndim - 2)])
    return level, data


def predict_image(predictor: Predictor, path: Path, out: Path, stem: str, choice: AxisChoice, bcfg: BlockConfig,
                  *, axes: str | None = None, overwrite: bool = False, verbose: bool = True) -> Path:
    """``NAME_prob.ome.zarr``, ``NAME_mask.ome.zarr`` and a preview ``NAME_overlay.png``; returns the mask path."""
    from ..io import write_image
    from ..viz import overlay
    if predictor.keep != "all":
        from ..errors import UnetkitError
        raise UnetkitError(f"{path}: --keep {predictor.keep} (the largest region of an image) needs the whole plane "
                           "in memory; predict it with --keep all, or --blocks never if it fits in memory")
    job, sel = prepare_job(predictor, path, choice, bcfg, axes)
    say_smoothing(job, path.name, verbose)
    k = predictor.outputs()
    where = output_axes(sel)
    scale = {"pixel_size": sel.image.pixel_size, "frame_interval": sel.image.frame_interval}   # carried to the outputs
    job.outputs = {
        "prob": ZarrOutput.create(out / f"{stem}_prob.ome.zarr", t=where["t"], c=k if k > 1 else None, z=where["z"],
                                  yx=sel.yx, dtype=np.float32, chunk=bcfg.chunk, reduce="mean",
                                  **scale),
        "mask": ZarrOutput.create(out / f"{stem}_mask.ome.zarr", t=where["t"], c=None, z=where["z"], yx=sel.yx,
                                  dtype=np.uint8, chunk=bcfg.chunk, reduce="nearest", **scale),
    }
    try:
        run_blocks(job, sel, bcfg, verbose, f"{path.name}")
        for o in job.outputs.values():
            o.finish(overwrite, bcfg.block_size)
    except BaseException:
        for o in job.outputs.values():
            o.discard()
        raise
    level, mask = preview(job.outputs["mask"])
    write_image(out / f"{stem}_overlay.png", overlay(preview_image(sel, 2 ** level), mask if k > 1 else mask // 255))
    return job.outputs["mask"].final


def preview_image(sel: Selection, step: int) -> np.ndarray:
    """The first plane at 1/step scale for drawing on (strided reads: bounded by the preview's size)."""
    from ..viz import display_image
    arr = pixels(sel.image.path, sel.data[0, 0, ::step, ::step])
    arr = arr[..., 0] if arr.shape[-1] == 1 else arr
    return display_image(np.nan_to_num(arr))
