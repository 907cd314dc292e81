"""Save and load unetkit models: a ``.keras`` file with our metadata inside.

The metadata (channels, normalisation, classes, target, depth) travels inside the
same zip as ``unetkit.json``, so one file is enough to predict, and a file that is not
a unetkit model is recognised with a clear message.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from . import _backend  # noqa: F401
from .errors import UnetkitError

META_NAME = "unetkit.json"
BEST = "best.keras"
LAST = "last.keras"


def inference_copy(model):
    """The same network and weights without optimizer state: a third of the file size."""
    import keras
    copy = keras.Model.from_config(model.get_config())  # architecture only: no compile state
    copy.set_weights(model.get_weights())
    return copy


def save_model(model, path, meta: dict, *, with_optimizer: bool = True) -> Path:
    """Write ``model`` plus ``meta`` to ``path`` atomically (temporary file, then rename).

    ``with_optimizer=False`` writes an inference copy (for best.keras and bundled models);
    resuming needs the optimizer state, which last.keras keeps."""
    if not with_optimizer:
        model = inference_copy(model)
    from .io import atomic_target
    path = Path(path)
    tmp = str(atomic_target(path.with_suffix(".keras")))
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(META_NAME, json.dumps(meta, indent=1))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def rewrite_meta(src, dst, meta: dict) -> Path:
    """A copy of the model file ``src`` at ``dst`` with ``meta`` as its metadata (atomic)."""
    from .io import atomic_target
    dst = Path(dst)
    tmp = atomic_target(dst)
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
            for item in zin.infolist():
                if item.filename != META_NAME:
                    zout.writestr(item, zin.read(item.filename))
            zout.writestr(META_NAME, json.dumps(meta, indent=1))
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


def input_multiple(meta: dict) -> int:
    """The network's input size divisor from a model's metadata (models from before the architecture contract:
    2^depth)."""
    return int(meta.get("divisor") or 2 ** meta["depth"])


def resolve_model_path(spec: str | os.PathLike) -> Path:
    """A run folder (its best.keras), a .keras file, or a bundled model's name."""
    from .data.bundled import bundled_model
    p = Path(spec)
    if p.is_dir():
        cand = p / BEST
        if not cand.is_file():
            raise UnetkitError(f"{p}: no {BEST} in this folder; pass a training run folder or a .keras file")
        return cand
    if p.is_file():
        return p
    bundled = bundled_model(str(spec))
    if bundled is not None:
        return bundled
    raise UnetkitError(f"{spec}: model not found; pass a run folder, a .keras file or a bundled model name")


def read_meta(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(META_NAME))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
        raise UnetkitError(f"{path}: not a unetkit model (no {META_NAME} inside); "
                           "pass a model written by 'unetkit train'") from None


def _policy_names(config, name: str | None = None) -> set:
    """The mixed-precision policies named in a model config; with ``name``, set them to it in place."""
    found = set()
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            if config["config"].get("name", "").startswith("mixed_"):
                found.add(config["config"]["name"])
                if name:
                    config["config"]["name"] = name
        for v in config.values():
            found |= _policy_names(v, name)
    elif isinstance(config, list):
        for v in config:
            found |= _policy_names(v, name)
    return found


def with_current_policy(model):
    """``model`` computing in the current global precision policy instead of the mixed one it was
    saved with: a model trained in bfloat16 on a CPU with bf16 units would otherwise run emulated
    bfloat16, many times slower, on a CPU without them. The float32 output head stays float32."""
    import keras
    return with_policy(model, keras.mixed_precision.global_policy().name)


def with_policy(model, name: str):
    """``model`` computing in the precision policy ``name`` (its mixed layers switched; the same object
    when nothing changes). ``float32`` is what an exported network must compute in."""
    import keras
    config = model.get_config()
    saved = _policy_names(config)
    if not saved or saved == {name}:
        return model
    _policy_names(config, name)
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def load_model(spec, compile: bool = False, custom_objects: dict | None = None):
    """Return (keras model, metadata dict). Without ``compile`` (prediction, fine-tuning) the
    model runs in the current precision policy (``with_current_policy``); compiled (resuming)
    it keeps the one it was saved with."""
    import keras
    path = resolve_model_path(spec)
    meta = read_meta(path)
    try:
        model = keras.saving.load_model(path, compile=compile, custom_objects=custom_objects)
    except Exception as exc:
        raise UnetkitError(f"{path}: cannot load the model ({str(exc).splitlines()[0][:200]})") from None
    return (model if compile else with_current_policy(model)), meta
