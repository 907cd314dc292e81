"""Where the bundled demo data and models live inside the installed package."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def isbi2012() -> tuple[Path, Path]:
    """(images, masks) folders of the 30 labelled ISBI 2012 slices shipped with unetkit."""
    return ASSETS / "isbi2012" / "images", ASSETS / "isbi2012" / "masks"


def bundled_model(name: str) -> Path | None:
    """Path of a bundled model by name (e.g. 'nuclei'), or None."""
    p = ASSETS / "models" / f"{name}.keras"
    return p if p.is_file() else None


def bundled_models() -> list[str]:
    folder = ASSETS / "models"
    return sorted(p.stem for p in folder.glob("*.keras")) if folder.is_dir() else []


def model_card(name: str) -> Path | None:
    """The model card (``NAME.md``: data, split, metrics, limits) beside a bundled model, or None."""
    p = ASSETS / "models" / f"{name}.md"
    return p if p.is_file() else None
