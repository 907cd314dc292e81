"""Does a bioimage.io package compute what unetkit computes, on real images? (benchmarks/README.md, section 27)

    python benchmarks/export_agreement.py IMAGES_DIR [--model nuclei] [--n 20]

Exports the model twice, for bright objects and for dark ones, and runs each image of IMAGES_DIR (the first N,
sorted) through the package whose polarity unetkit itself picks for that image (``invert: auto``), with
bioimage.io's own runner (pre-processing, padding and tiling its way: with its default tiles, and as one tile),
and through unetkit (its normalisation and polarity, the Keras network on the whole image; sides cut to a
multiple of the network's divisor). Prints, per polarity and tiling, the largest and the mean absolute
difference of the probabilities away from the border (the package's halo), and how many pixels change class
(argmax) there.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images")
    ap.add_argument("--model", default="nuclei")
    ap.add_argument("--n", type=int, default=20)
    a = ap.parse_args(argv)
    from bioimageio.core import create_prediction_pipeline, load_description, predict
    from bioimageio.spec.model.v0_5 import AxisId

    from unetkit.config import ExportConfig, PredictConfig
    from unetkit.data.prepare import to_channels
    from unetkit.exporting import export_model
    from unetkit.exporting.bioimageio_package import min_side, package_halo
    from unetkit.io import read_array
    from unetkit.predictor import Predictor
    p = Predictor.load(a.model, PredictConfig())
    h = package_halo(p.meta)
    stats = {False: [], True: []}
    with tempfile.TemporaryDirectory() as d:
        pipes = {dark: create_prediction_pipeline(load_description(export_model(
            a.model, Path(d) / f"{'dark' if dark else 'bright'}.zip", ExportConfig(polarity="dark" if dark else "bright")
        )), weight_format="onnx") for dark in (False, True)}
        for f in sorted(Path(a.images).iterdir())[: a.n]:
            native = read_array(f)
            m = p.multiple   # the whole image in one call: sides cut to the network's divisor
            native = native[: native.shape[0] // m * m, : native.shape[1] // m * m]
            if min(native.shape[:2]) < min_side(p.meta):
                continue
            x = p.prepare(native)
            dark = p.meta.get("invert") == "auto" and _inverted(p, native)
            want = np.asarray(p.model.predict_on_batch(x[None]))[0]
            gray = to_channels(native, p.channels).astype(np.float32)
            core = (slice(h, -h), slice(h, -h))
            row = []
            for whole in (False, True):   # the runner's default tiles, then the image as one tile
                shape = {"raw": {AxisId("batch"): 1, AxisId("y"): gray.shape[0], AxisId("x"): gray.shape[1]}}
                got = predict(model=pipes[dark], inputs=gray[None], **({"input_block_shape": shape} if whole else {}))
                got = got.members["probabilities"].data.transpose("batch", "y", "x", "channel").values[0]
                diff = np.abs(got - want)[core]
                row += [float(diff.max()), float(diff.mean()), float(np.mean(got[core].argmax(-1) != want[core].argmax(-1)))]
            stats[dark].append(row)
    for dark, rows in stats.items():
        if rows:
            m = np.array(rows)
            for k, how in ((0, "runner's default tiles"), (3, "one tile")):
                print(f"{'dark' if dark else 'bright'} objects, {how}: {len(rows)} images; largest difference "
                      f"{m[:, k].max():.1e}, mean {m[:, k + 1].mean():.1e}; pixels whose class changes "
                      f"{100 * m[:, k + 2].mean():.4f} %")


def _inverted(p, native) -> bool:
    """Whether unetkit's own preparation inverted this image (its polarity rule, ``invert: auto``)."""
    from unetkit.data.prepare import norm_params, to_channels
    return norm_params(to_channels(native, p.channels), p.meta["norm"], "auto").invert


if __name__ == "__main__":
    main()
