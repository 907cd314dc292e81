"""What the bridges cost: exporting a model, running it in ONNX Runtime against Keras, and writing GeoJSON.

    python benchmarks/export_speed.py [--model nuclei] [--labels DIR]   # benchmarks/README.md, section 27

1. ``unetkit export`` of the model as ONNX and as a bioimage.io package: wall time and file sizes.
2. The same float32 network on the same batches (2 tiles of 512 x 512, count's batch), Keras on this process's
   backend against the exported ONNX file in ONNX Runtime (what ilastik, QuPath's extension and deepImageJ's
   ONNX engine run): median of 9 calls after 2 warm-ups each, and the ratio.
3. With ``--labels`` (a folder of ``NAME_labels.tif`` from ``unetkit count``): the time ``--outlines`` adds,
   tracing and writing every object, per image and format.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def median_seconds(fn, runs: int = 9, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nuclei")
    ap.add_argument("--labels", help="folder of NAME_labels.tif written by unetkit count")
    a = ap.parse_args(argv)
    import onnxruntime as ort

    from unetkit.config import ExportConfig
    from unetkit.exporting import export_model
    from unetkit.exporting.onnx_graph import float32_model
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t = time.perf_counter()
        onnx_path = export_model(a.model, d / "m.onnx", ExportConfig(format="onnx"))
        t_onnx = time.perf_counter() - t
        t = time.perf_counter()
        pkg = export_model(a.model, d / "m.zip", ExportConfig())
        t_pkg = time.perf_counter() - t
        print(f"export: ONNX {t_onnx:.1f} s ({onnx_path.stat().st_size / 1e6:.1f} MB); bioimage.io package "
              f"{t_pkg:.1f} s ({pkg.stat().st_size / 1e6:.1f} MB, its test in bioimage.io's runner included)")
        model, _ = float32_model(a.model)
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((2, 512, 512, int(model.input_shape[-1])), dtype=np.float32)
        name = sess.get_inputs()[0].name
        k = median_seconds(lambda: model.predict_on_batch(x))
        o = median_seconds(lambda: sess.run(None, {name: x}))
        diff = float(np.abs(np.asarray(model.predict_on_batch(x)) - sess.run(None, {name: x})[0]).max())
        print(f"2 x 512 x 512 float32: Keras {k * 1e3:.0f} ms, ONNX Runtime {o * 1e3:.0f} ms per batch (median of 9); "
              f"Keras / ONNX Runtime = {k / o:.2f}; largest difference {diff:.1e}")
    if a.labels:
        from unetkit.io import read_array
        from unetkit.io.object_files import FORMATS, write_objects
        files = sorted(Path(a.labels).glob("*_labels.tif"))
        for fmt, (suffix, _) in FORMATS.items():
            total, objects = 0.0, 0
            with tempfile.TemporaryDirectory() as d:
                for f in files:
                    labels = read_array(f).astype(np.int32)
                    rows = [{"id": i} for i in range(1, int(labels.max()) + 1)]
                    t = time.perf_counter()
                    write_objects({fmt: Path(d) / f"x{suffix}"}, labels, rows)
                    total += time.perf_counter() - t
                    objects += len(rows)
            print(f"--outlines {fmt} on {len(files)} label images, {objects} objects: {total:.2f} s in all, "
                  f"{1e3 * total / max(len(files), 1):.0f} ms per image, {1e6 * total / max(objects, 1):.0f} us per object")


if __name__ == "__main__":
    main()
