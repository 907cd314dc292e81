"""Models leave unetkit: ONNX for any runtime, a bioimage.io package for the tools users already have.

``export_model(model, out, cfg)`` is the one entry point; ``FORMATS`` maps a format's name to the function
that writes it (``onnx_graph.write_onnx``, ``bioimageio_package.write_package``). What leaves is the network
and its input normalisation, never ``count``'s size search, smoothing or watershed: a package's outputs are
the model's probabilities, and the package's documentation says how ``count`` turns them into objects.

Both writers need the ``export`` extra (``pip install -e ".[export]"``: onnx, onnxruntime, tf2onnx and, for
packages, bioimageio.core); a missing piece is named in a one-line error, not skipped.
"""
from __future__ import annotations

from pathlib import Path

from ..config import ExportConfig
from ..errors import UnetkitError


def _onnx(model, out, cfg):
    from .onnx_graph import export_onnx
    return export_onnx(model, out, cfg)


def _bioimageio(model, out, cfg):
    from .bioimageio_package import write_package
    return write_package(model, out, cfg)


FORMATS = {"bioimageio": (_bioimageio, ".zip"), "onnx": (_onnx, ".onnx")}
POLARITIES = ("auto", "bright", "dark")   # ExportConfig.polarity


def format_for(out) -> str:
    """The format an output name asks for by its suffix (NAME.onnx: onnx); the default format otherwise, whose
    suffix check then names the fix."""
    suffix = Path(out).suffix.lower()
    return next((name for name, (_, s) in FORMATS.items() if s == suffix), ExportConfig().format)


def export_model(model, out, cfg: ExportConfig | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` (run folder, .keras file or bundled name) as ``cfg.format`` to ``out``; returns the path.

    An existing ``out`` is refused unless ``overwrite``; the file appears only when complete and checked."""
    cfg = cfg or ExportConfig()
    if cfg.format not in FORMATS:
        raise UnetkitError(f"unknown export format {cfg.format!r}: use {' or '.join(FORMATS)}")
    if cfg.format == "onnx" and (cfg.polarity != "auto" or cfg.sample):   # the network alone: nothing to apply them to
        raise UnetkitError("--polarity and --sample shape a bioimage.io package's pre-processing and test image; an "
                           "ONNX file holds the network alone: leave them out, or export --format bioimageio")
    write, suffix = FORMATS[cfg.format]
    out = Path(out)
    if out.suffix.lower() != suffix:
        raise UnetkitError(f"{out}: a {cfg.format} export is a {suffix} file; name it NAME{suffix}")
    if out.exists() and not overwrite:
        raise UnetkitError(f"{out}: already exists; choose another name or pass --overwrite")
    return write(model, out, cfg)
