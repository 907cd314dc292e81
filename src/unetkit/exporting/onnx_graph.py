"""ONNX: the network alone, in float32, for any runtime (ONNX Runtime, deepImageJ, QuPath, ilastik).

``export_onnx`` converts with Keras's own exporter (tf2onnx under TensorFlow, jax2tf under JAX; PyTorch's
exporter fixes the image size, so that backend is refused) and then runs the file and the Keras network on
the same seeded random image: a file whose outputs differ by more than ``ExportConfig.tolerance`` is refused,
so a converter's op mismatch shows here, not in the user's results. unetkit's metadata (channels,
normalisation, polarity, classes, training diameter) rides along in the file's ``metadata_props``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..checkpoint import input_multiple, load_model, with_policy
from ..config import ExportConfig
from ..errors import UnetkitError
from ..io import atomic_target

META_KEY = "unetkit"   # the metadata_props key holding unetkit's model metadata (JSON)


def require(module: str, what: str):
    """Import an optional dependency of the export extra, or say in one line how to get it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnetkitError(f"{what} needs {module.split('.')[0]}: pip install -e \".[export]\"") from None


def float32_model(spec):
    """(keras model computing in float32, metadata) of a run folder, .keras file or bundled name."""
    model, meta = load_model(spec)
    return with_policy(model, "float32"), meta


def convert(model, path: Path, opset: int) -> None:
    """Write ``model`` as ONNX to ``path``: batch, height and width left free, channels fixed (NHWC)."""
    import keras
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise UnetkitError(f"ONNX export runs on the tensorflow or jax backend, not {backend} (its exporter fixes "
                           "the image size): set KERAS_BACKEND=tensorflow")
    if backend == "tensorflow":
        require("tf2onnx", "ONNX export")
    channels = int(model.input_shape[-1])
    spec = keras.InputSpec(shape=(None, None, None, channels), dtype="float32")
    import warnings
    with warnings.catch_warnings():   # Keras's tf2onnx shim probes np.object, which NumPy 2 warns about
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", input_signature=[spec], opset_version=opset, verbose=False)


def session(path: Path):
    ort = require("onnxruntime", "checking an ONNX export")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(sess, x: np.ndarray) -> np.ndarray:
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0])


def check_input(channels: int, divisor: int, seed: int = 0) -> np.ndarray:
    """A seeded random image, not square (a swapped height and width would show), sides multiples of the divisor."""
    return np.random.default_rng(seed).random((1, 4 * divisor, 5 * divisor, channels), dtype=np.float32)


def difference(model, path: Path, divisor: int) -> float:
    """Largest absolute difference between the ONNX file's and the Keras network's outputs on ``check_input``."""
    x = check_input(int(model.input_shape[-1]), divisor)
    got, want = run(session(path), x), np.asarray(model.predict_on_batch(x))
    if got.shape != want.shape:   # a different shape would broadcast into a small difference
        return float("inf")
    return float(np.max(np.abs(got - want)))


def add_metadata(path: Path, meta: dict) -> None:
    onnx = require("onnx", "ONNX export")
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {META_KEY: json.dumps(meta), "producer": "unetkit"})
    onnx.save(graph, str(path))


def write_checked(model, meta: dict, out: Path, cfg: ExportConfig) -> float:
    """Convert, check and attach the metadata, atomically: ``out`` appears only when its outputs match
    Keras's within ``cfg.tolerance``. Returns the difference measured."""
    tmp = atomic_target(out)
    try:
        convert(model, tmp, cfg.opset)
        diff = difference(model, tmp, input_multiple(meta))
        if not diff <= cfg.tolerance:   # also refuses NaN
            raise UnetkitError(f"{out}: the ONNX network's outputs differ from Keras's by {diff:.2g} (more than "
                               f"{cfg.tolerance:g}); not written. Report the model's architecture to unetkit")
        add_metadata(tmp, meta)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return diff


def export_onnx(spec, out: Path, cfg: ExportConfig) -> Path:
    model, meta = float32_model(spec)
    diff = write_checked(model, meta, Path(out), cfg)
    print(f"[unetkit] wrote {out} (ONNX opset {cfg.opset}; outputs within {diff:.1e} of Keras's)")
    return Path(out)
