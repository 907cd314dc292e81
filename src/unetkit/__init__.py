"""unetkit: U-Net segmentation and counting for biomedical images.

The public API is flat; heavy modules (Keras) load on first use.
"""
from __future__ import annotations

from . import _backend  # noqa: F401
from .errors import UnetkitError

__version__ = "0.1.0"


def build_model(name: str = "unet", **options):
    """Build a registered architecture, e.g. ``build_model("unet", base_filters=32)``."""
    from .models import build
    return build(name, **options)


def load_model(spec):
    """Load a unetkit model (run folder, .keras file or bundled name): (keras model, metadata)."""
    from .checkpoint import load_model as _load
    return _load(spec)


def train(cfg, out_dir, **kwargs):
    from .train import train as _train
    return _train(cfg, out_dir, **kwargs)


def predict(model, inputs, out_dir, cfg=None, **kwargs):
    from .predict import predict as _predict
    return _predict(model, inputs, out_dir, cfg, **kwargs)


def evaluate(pred_dir, truth_dir, **kwargs):
    from .evaluate import evaluate_folders
    return evaluate_folders(pred_dir, truth_dir, **kwargs)


__all__ = ["UnetkitError", "build_model", "load_model", "train", "predict", "evaluate", "__version__"]
