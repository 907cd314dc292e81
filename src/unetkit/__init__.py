"""unetkit: U-Net segmentation and counting for biomedical images.

The public API is flat; heavy modules (Keras) load on first use. The modules behind
it are named for what they hold (``training``, ``prediction``, ``counting``,
``evaluation``), never for an API function: importing a submodule binds its name on
this package, and a module called ``predict`` would replace ``unetkit.predict`` the
function after its first call.
"""
from __future__ import annotations

from . import _backend  # noqa: F401
from .errors import UnetkitError

__version__ = "0.2.0"


def build_model(name: str = "unet", **options):
    """Build a registered architecture, e.g. ``build_model("unet", base_filters=32)``."""
    from .models import build
    return build(name, **options)


def load_model(spec):
    """Load a unetkit model (run folder, .keras file or bundled name): (keras model, metadata)."""
    from .checkpoint import load_model as _load
    return _load(spec)


def train(cfg, out_dir, **kwargs):
    """Train from a ``RunConfig`` into the run folder ``out_dir``; returns the run's result."""
    from .training import train as _train
    return _train(cfg, out_dir, **kwargs)


def predict(model, inputs, out_dir, cfg=None, **kwargs):
    """Predict image files/folders with a model (run folder, .keras, bundled name); returns the mask paths."""
    from .prediction import predict as _predict
    return _predict(model, inputs, out_dir, cfg, **kwargs)


def count(model, inputs, out_dir, cfg=None, **kwargs):
    """Count objects in image files/folders, shaped like ``predict``; returns the rows of counts.csv."""
    from .counting import count as _count
    return _count(model, inputs, out_dir, predict_cfg=cfg, **kwargs)


def label(model, image, **kwargs):
    """Objects of one 2-D image array, as ``count`` finds them in a file: (label image, info): how the object size
    was found (``scale``, ``diameter``, ``passes``), ``scores``, each object's peak probability (index k-1 for
    label k; the ``score`` column of ``count``'s tables), and ``unsure``, how many objects scored under the
    model's ``min_score`` and were dropped."""
    from .counting import label_array
    return label_array(model, image, **kwargs)


def segment(model, image, **kwargs):
    """Probabilities and classes of one 2-D image array, as ``predict`` computes them for a file: (probabilities
    (H, W, K) float32, K = 1 for a one-channel model; classes (H, W) uint8, 0/1 at the model's threshold or the
    most probable class)."""
    from .prediction import segment_array
    return segment_array(model, image, **kwargs)


def evaluate(pred_dir, truth_dir, **kwargs):
    """Pixel and ISBI 2012 scores of predicted masks against truth masks."""
    from .evaluation import evaluate_folders
    return evaluate_folders(pred_dir, truth_dir, **kwargs)


def evaluate_instances(pred_dir, truth_dir, **kwargs):
    """Instance matching scores (precision, recall, F1 at IoU thresholds, count error) of label images."""
    from .evaluation import evaluate_instances as _evaluate_instances
    return _evaluate_instances(pred_dir, truth_dir, **kwargs)


def evaluate_tracks(pred_dir, truth_dir, **kwargs):
    """Tracking scores (detections, links, whole tracks, divisions) of counted label movies against track truth."""
    from .track_scores import evaluate_tracks as _evaluate_tracks
    return _evaluate_tracks(pred_dir, truth_dir, **kwargs)


def track(inputs, out_dir, **kwargs):
    """Track label movies segmented elsewhere (each frame numbered 1..N) by count's rules: a row per movie."""
    from .track_labels import track_labels
    return track_labels(inputs, out_dir, **kwargs)


def calibrate(model, images_dir, masks_dir, **kwargs):
    """Choose count's thresholds on annotated images (held out from training): a ``Calibration``."""
    from .calibrate import calibrate as _calibrate
    return _calibrate(model, images_dir, masks_dir, **kwargs)


def export_model(model, out, cfg=None, **kwargs):
    """Write a model for other tools: a bioimage.io package (NAME.zip) or ONNX (NAME.onnx), per ``ExportConfig``."""
    from .exporting import export_model as _export
    return _export(model, out, cfg, **kwargs)


__all__ = ["UnetkitError", "build_model", "load_model", "train", "predict", "count", "segment", "label", "evaluate",
           "evaluate_instances", "evaluate_tracks", "track", "calibrate", "export_model", "__version__"]
