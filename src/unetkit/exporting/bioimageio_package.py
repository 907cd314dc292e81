"""A bioimage.io model package (a .zip holding rdf.yaml): unetkit's network for Fiji (deepImageJ), QuPath,
ilastik and napari, which all read the zoo's format.

In the package: the network as ONNX (``onnx_graph``, checked against Keras) and as the .keras file it came
from (bioimage.io's ``keras_v3`` weights, the ONNX file's parent); the input's normalisation written as the
zoo's pre-processing (unetkit's percentiles, 1 and 99.8, and an inversion for dark objects); a test image
with the output unetkit itself computes for it; a cover; documentation (what goes in and comes out, the
model card of a bundled model, how ``count`` turns the probabilities into objects).

``write_package`` builds it in a temporary folder, has bioimage.io's own runner (bioimageio.core) push the
test image through the package's pre-processing and each of its weights, and writes the zip only when both
reproduce unetkit's output: what a Fiji user gets is what ``unetkit predict`` gets, checked.

Memory: one test image (at most ``ExportConfig.crop`` px square) and the network.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..config import ExportConfig
from ..data.prepare import PERCENTILES, apply_norm, norm_params, params_from_stats, to_channels
from ..diameter import AIM, BAND
from ..checkpoint import input_multiple
from ..errors import UnetkitError
from ..io import atomic_target
from . import POLARITIES
from .onnx_graph import float32_model, require, write_checked

UNET_PAPER = ("Ronneberger, Fischer, Brox: U-Net: Convolutional Networks for Biomedical Image Segmentation, "
              "MICCAI 2015", "10.1007/978-3-319-24574-4_28")
DSB2018 = ("Caicedo et al.: Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl, "
           "Nature Methods 16, 1247-1253 (2019) (the bundled nuclei model's training data, CC0)",
           "10.1038/s41592-019-0612-7")


def inverts(meta: dict, polarity: str, name: str) -> bool:
    """Whether the package inverts its normalised input. A model that inverts bright-background images itself
    (``invert: auto``) chooses per image, which the zoo's pre-processing cannot: the export fixes one polarity."""
    if polarity not in POLARITIES:
        raise UnetkitError(f"unknown polarity {polarity!r}: use {', '.join(POLARITIES)}")
    if meta.get("invert", "never") != "auto":
        if polarity == "dark":
            raise UnetkitError(f"{name}: this model never inverts its input (it learned one polarity); "
                               "export it without --polarity dark")
        return False
    return polarity == "dark"


def output_names(meta: dict, k: int) -> list[str]:
    """Names of the network's ``k`` output channels, as its target defines them (the auxiliary head last)."""
    aux = [str(meta["aux"])] if meta.get("aux") else []
    main = k - len(aux)
    if meta.get("target") == "boundary" and main == 3:
        names = ["background", "interior", "boundary"]
    elif main == 1:
        names = ["foreground"]
    else:
        names = [f"class{i}" for i in range(main)]
    return names + aux


def package_halo(meta: dict) -> int:
    """The network's halo rounded up to a multiple of its divisor: bioimage.io runners pad each tile by the halo
    on both sides, and a padded tile must still be a size the network takes (a depth-2 model's 22 px halo made
    bioimage.io's runner feed it 71 px tiles, which its pooling cannot halve twice)."""
    div = input_multiple(meta)
    return -(-int(meta.get("halo") or 0) // div) * div


def min_side(meta: dict) -> int:
    """The smallest input side the package admits: a multiple of the network's divisor wider than twice its
    halo, so a tile keeps some output once consumers crop the halo (bioimage.io's halo is cropped per side)."""
    return 2 * package_halo(meta) + input_multiple(meta)


def test_image(cfg: ExportConfig, meta: dict, invert: bool) -> tuple[np.ndarray, np.dtype]:
    """(the package's raw test image (H, W, C) float32 with the model's channels, the file's own type): the
    centre of ``cfg.sample``, or synthetic cells (dark on bright for a dark-object export), cropped to a
    multiple of the divisor. Only that square is read from the file (a slide given as the sample stays on disk)."""
    channels, div = int(meta["channels"]), input_multiple(meta)
    side = max(min_side(meta), cfg.crop // div * div)
    if cfg.sample:
        from ..io import open_image
        from ..planes import AxisChoice, select
        one_plane = "a test image must be one 2-D plane, gray or RGB"
        try:
            sel = select(open_image(cfg.sample), channels, AxisChoice())
        except UnetkitError as exc:   # the reader's reason, with what export takes instead of its options
            raise UnetkitError(f"{cfg.sample}: {one_plane} ({exc}); pass one plane of it as --sample") from None
        sel.require_one_plane(f"{one_plane}; pass one plane of it as --sample")
        h, w = sel.yx
        side = min(side, h // div * div, w // div * div)
        if side < min_side(meta):
            raise UnetkitError(f"{cfg.sample}: {h}x{w} px is smaller than the package's smallest input "
                               f"{min_side(meta)} px square; pass a larger --sample")
        y, x = (h - side) // 2, (w - side) // 2
        arr = np.asarray(sel.plane(0, 0).native(y, y + side, x, x + side))
        if not np.all(np.isfinite(arr)):
            raise UnetkitError(f"{cfg.sample}: the image has NaN or infinite pixels; pass another --sample")
    else:
        from ..data.synthetic import random_cells
        arr, _ = random_cells(size=side, n=max(4, side * side // 2500), rng=np.random.default_rng(0))
        if invert:
            arr = 255 - arr
    return to_channels(arr, channels).astype(np.float32), arr.dtype


def expected_output(model, meta: dict, raw: np.ndarray, raw_dtype, invert: bool) -> np.ndarray:
    """unetkit's own output for the raw test image: its normalisation (``scale`` by the file's own type, which
    the float32 test image no longer has), the chosen polarity, the Keras network."""
    norm = meta.get("norm", "percentile")
    p = params_from_stats(norm, raw_dtype) if norm in ("scale", "none") else norm_params(raw, norm)
    p = dataclasses.replace(p, invert=invert)
    return np.asarray(model.predict_on_batch(apply_norm(raw, p)[None]), np.float32)


def preprocessing(v, meta: dict, invert: bool, raw_dtype) -> list:
    """unetkit's input normalisation as bioimage.io pre-processing steps (``v``: bioimageio.spec.model.v0_5)."""
    norm = meta.get("norm", "percentile")
    steps = [v.EnsureDtypeDescr(kwargs=v.EnsureDtypeKwargs(dtype="float32"))]
    if norm in ("percentile", "channel"):   # joint percentiles over the whole image, or one range per channel
        axes = ["y", "x", "channel"] if norm == "percentile" else ["y", "x"]
        steps.append(v.ScaleRangeDescr(kwargs=v.ScaleRangeKwargs(
            axes=[v.AxisId(a) for a in axes], min_percentile=PERCENTILES[0], max_percentile=PERCENTILES[1])))
    elif norm == "scale":
        top = float(np.iinfo(raw_dtype).max) if np.issubdtype(raw_dtype, np.integer) else 1.0
        steps.append(v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=1.0 / top)))
    elif norm != "none":
        raise UnetkitError(f"the model's normalisation {norm!r} has no bioimage.io equivalent")
    if invert:
        steps.append(v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=-1.0, offset=1.0)))
    return steps


def cover(raw: np.ndarray, out: np.ndarray, names: list[str], path: Path) -> None:
    """The test image beside its probabilities (interior green, boundary magenta; one class: gray), 2:1."""
    import cv2
    from ..viz import as_rgb, display_image
    left = as_rgb(display_image(raw[..., 0] if raw.shape[-1] == 1 else raw))
    probs = out[0]
    if "interior" in names:
        i, b = probs[..., names.index("interior")], probs[..., names.index("boundary")]
        right = np.stack([b, i, b], axis=-1)
    else:
        right = np.repeat(probs[..., :1], 3, axis=-1) if probs.shape[-1] == 1 else probs[..., 1:4]
        right = np.pad(right, ((0, 0), (0, 0), (0, 3 - right.shape[-1])))
    right = (np.clip(right, 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([left, right], axis=1), cv2.COLOR_RGB2BGR))


def documentation(name: str, meta: dict, names: list[str], invert: bool, card: str | None) -> str:
    norm = {"percentile": "(x - p1) / (p99.8 - p1), the percentiles over the whole image",
            "channel": "(x - p1) / (p99.8 - p1) per colour channel", "scale": "divided by the type's maximum",
            "none": "none"}[meta.get("norm", "percentile")]
    lines = [f"# {name}: a unetkit U-Net ({meta.get('architecture', 'unet')})", "",
             "Exported by `unetkit export`. The package holds the network (ONNX, and the Keras 3 file it came from)",
             "and its input normalisation; the test image's output was computed by unetkit and reproduced from this",
             "package by bioimage.io's runner before the package was written.", "",
             "## Input", f"- `raw`: {meta['channels']} channel(s) "
             f"({'gray: convert colour images to gray first' if int(meta['channels']) == 1 else 'RGB'}), any size;"
             " sides a multiple of the network's divisor (the runner pads).",
             f"- Normalisation (in the package): {norm}"
             + ("; then inverted (1 - x), so dark objects on a bright background become bright." if invert else "."),
             ]
    if meta.get("invert") == "auto":
        lines.append("- unetkit decides per image whether to invert (bright backgrounds: brightfield, H&E). This "
                     f"package is fixed to **{'dark' if invert else 'bright'} objects**; export again with "
                     f"`--polarity {'bright' if invert else 'dark'}` for the other kind.")
    if meta.get("diameter"):
        d = float(meta["diameter"])
        lines.append(f"- Object size: trained on objects of median diameter {d:g} px. Resize images whose objects are "
                     f"outside {d / BAND:.1f}-{d * BAND:.1f} px so they are about {d * AIM:.1f} px across first "
                     "(`unetkit count` does so by itself).")
    lines += ["", "## Output", "- `probabilities`: " + ", ".join(names) + " (per pixel, 0-1), same size as the input.",
              f"- Halo: {package_halo(meta)} px per side (the network's {meta.get('halo')} px, rounded up to a multiple of "
              f"its divisor {input_multiple(meta)}); tiles overlap by it so the seams do not show."]
    if meta.get("target") == "boundary":
        inst = meta.get("instances") or {}
        lines.append(f"- Objects (what `unetkit count` does): foreground = background < {1 - inst.get('threshold', 0.5):g}; "
                     f"seeds = interior smoothed by {inst.get('smooth', 0)} px >= {inst.get('marker_threshold', 0.3)}; "
                     "a watershed of the interior from the seeds within the foreground"
                     + (f"; objects whose highest interior probability is < {inst['min_score']:g} are dropped."
                        if inst.get("min_score") else "."))
    lines += ["", "## Validation",
              "- Export: bioimage.io's runner reproduced unetkit's output for the test image from each of the package's "
              "weights (ONNX and Keras 3), through the package's own pre-processing, at three sizes and two batch sizes.",
              "- Accuracy: " + ("the model card below (scores on images no choice was made on)." if card else
                                "the training run's history and `unetkit evaluate` on the user's own held-out images."),
              "", "## unetkit metadata", "The package's `config.unetkit` holds the model's own metadata."]
    if card:
        lines += ["", "---", "", card]
    return "\n".join(lines) + "\n"


def describe(v, files: dict, meta: dict, cfg: ExportConfig, name: str, names: list[str], invert: bool,
             raw_dtype, bundled: bool):
    """The bioimage.io model description (``v``: bioimageio.spec.model.v0_5) of the files in ``files``."""
    import keras
    halo = package_halo(meta)
    size = v.ParameterizedSize(min=min_side(meta), step=input_multiple(meta))
    channel_names = ["gray"] if int(meta["channels"]) == 1 else ["red", "green", "blue"]
    inp = v.InputTensorDescr(
        id=v.TensorId("raw"),
        axes=[v.BatchAxis(), v.SpaceInputAxis(id=v.AxisId("y"), size=size),
              v.SpaceInputAxis(id=v.AxisId("x"), size=size),
              v.ChannelAxis(channel_names=[v.Identifier(c) for c in channel_names])],
        test_tensor=v.FileDescr(source=files["input"]),
        preprocessing=preprocessing(v, meta, invert, raw_dtype))
    ref = {a: v.SizeReference(tensor_id=v.TensorId("raw"), axis_id=v.AxisId(a)) for a in ("y", "x")}
    space = [(v.SpaceOutputAxisWithHalo(id=v.AxisId(a), size=ref[a], halo=halo) if halo else
              v.SpaceOutputAxis(id=v.AxisId(a), size=ref[a])) for a in ("y", "x")]
    out = v.OutputTensorDescr(
        id=v.TensorId("probabilities"),
        axes=[v.BatchAxis(), *space, v.ChannelAxis(channel_names=[v.Identifier(c) for c in names])],
        test_tensor=v.FileDescr(source=files["output"]),
        data=v.IntervalOrRatioDataDescr(type="float32"))
    cite = [v.CiteEntry(text=UNET_PAPER[0], doi=v.Doi(UNET_PAPER[1]))]
    if bundled and files["keras"].stem == "nuclei":
        cite.append(v.CiteEntry(text=DSB2018[0], doi=v.Doi(DSB2018[1])))
    backend = keras.backend.backend()
    backend_version = _backend_version(backend)
    weights = v.WeightsDescr(
        keras_v3=v.KerasV3WeightsDescr(source=files["keras"], keras_version=v.Version(keras.__version__),
                                       backend=(backend, v.Version(backend_version))),
        onnx=v.OnnxWeightsDescr(source=files["onnx"], opset_version=cfg.opset, parent="keras_v3"))
    tags = ["unetkit", "unet", "2d", "segmentation", "onnx"] + (["nuclei", "instance-segmentation"]
                                                               if meta.get("mask_mode") == "instances" else [])
    import pydantic
    try:
        return v.ModelDescr(
            name=name, description=f"unetkit U-Net ({meta.get('architecture', 'unet')}): {', '.join(names)} "
                               "probabilities per pixel",
            authors=[v.Author(name=a) for a in cfg.authors], cite=cite, license=cfg.license,
            documentation=v.FileDescr(source=files["doc"]), covers=[v.FileDescr(source=files["cover"])], tags=tags,
            inputs=[inp], outputs=[out], weights=weights, config=v.Config(unetkit=meta))
    except pydantic.ValidationError as exc:   # the user's name, author or licence: say which, in one line
        e = exc.errors()[0]
        field = str(e["loc"][0]) if e["loc"] else "description"
        if field == "license":   # pydantic lists every SPDX id: name a few instead
            raise UnetkitError(f"--license {cfg.license!r} is not an SPDX licence id; use e.g. CC-BY-4.0, CC0-1.0 "
                               "or MIT") from None
        raise UnetkitError(f"the package's {field} {e['input']!r}: {' '.join(str(e['msg']).split())[:160]} "
                           "(see --name, --author)") from None


def _backend_version(backend: str) -> str:
    import importlib
    mod = importlib.import_module({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
    return mod.__version__.split("+")[0]


def quietly(fn, *args):
    """``fn(*args)`` without Keras's progress bars and TensorFlow's retracing warnings (bioimage.io's runner
    predicts the test image at several sizes; its verdict comes back as the result)."""
    import logging

    import keras
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    keras.utils.disable_interactive_logging()
    tf_logger.setLevel(logging.ERROR)
    try:
        return fn(*args)
    finally:
        keras.utils.enable_interactive_logging()
        tf_logger.setLevel(level)


def failures(summary) -> str:
    """The first failed checks of a bioimage.io validation summary, in one line."""
    bad = [d for d in summary.details if d.status == "failed"]
    msgs = []
    for d in bad[:3]:
        errors = "; ".join(" ".join(str(e.msg).split())[:200] for e in (d.errors or [])[:2])   # one line
        msgs.append(f"{d.name}: {errors}" if errors else d.name)
    return " | ".join(msgs) or summary.status


def write_package(spec, out: Path, cfg: ExportConfig) -> Path:
    require("bioimageio.core", "a bioimage.io package")
    from loguru import logger
    logger.disable("bioimageio")    # its runner logs every check at INFO; the failures come back in one line
    from bioimageio.core import test_model
    from bioimageio.spec import save_bioimageio_package
    from bioimageio.spec.model import v0_5 as v

    from ..checkpoint import resolve_model_path
    from ..data.bundled import bundled_model, model_card
    out = Path(out)
    model, meta = float32_model(spec)
    path = resolve_model_path(spec)
    bundled = bundled_model(str(spec)) is not None
    stem = str(spec) if bundled else path.parent.name if path.name == "best.keras" else path.stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "model"   # the weights' file names in the zip
    name = cfg.name or f"unetkit {stem}"
    invert = inverts(meta, cfg.polarity, str(spec))
    raw, raw_dtype = test_image(cfg, meta, invert)
    expected = expected_output(model, meta, raw, raw_dtype, invert)
    names = output_names(meta, expected.shape[-1])
    card_path = model_card(str(spec)) if bundled else None
    card = card_path.read_text() if card_path else None
    with tempfile.TemporaryDirectory(prefix=".unetkit-export.", dir=out.parent if out.parent.exists() else None) as d:
        d = Path(d)
        files = {"input": d / "test_input.npy", "output": d / "test_output.npy", "cover": d / "cover.png",
                 "doc": d / "README.md", "keras": d / f"{stem}.keras", "onnx": d / f"{stem}.onnx"}
        np.save(files["input"], raw[None])
        np.save(files["output"], expected)
        cover(raw, expected, names, files["cover"])
        files["doc"].write_text(documentation(name, meta, names, invert, card))
        model.save(files["keras"])
        diff = write_checked(model, meta, files["onnx"], cfg)
        descr = describe(v, files, meta, cfg, name, names, invert, raw_dtype, bundled)
        summary = quietly(test_model, descr)
        if summary.status != "passed":
            raise UnetkitError(f"{out}: bioimage.io's runner did not reproduce unetkit's output from the package "
                               f"({failures(summary)}); not written")
        tmp = atomic_target(out)
        try:
            save_bioimageio_package(descr, output_path=tmp)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    print(f"[unetkit] wrote {out}: bioimage.io model '{name}' ({len(names)} outputs: {', '.join(names)}; "
          f"{'dark' if invert else 'bright'} objects; ONNX within {diff:.1e} of Keras; the package's test passed "
          "in bioimage.io's runner for both weights)")
    return out
