"""Every output is written atomically: to a temporary name in the target folder, then
renamed into place, so a crash never leaves a half-written file (or Zarr folder)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import tifffile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_target(path: Path) -> Path:
    """A new temporary file beside ``path`` (same folder, so the final rename is atomic),
    with the permissions a plain ``open`` would have given (mkstemp makes it owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def atomic_folder(path: Path) -> Path:
    """A new temporary folder beside ``path``; ``commit_folder`` renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def commit_folder(tmp: Path, path: Path, overwrite: bool = False) -> Path:
    if path.exists():
        if not overwrite:
            raise FileExistsError(path)
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
    return path


def write_image(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """Write PNG/TIFF/NPY/JPEG atomically (temporary name, then rename)."""
    from ..errors import UnetkitError
    path = Path(path)
    tmp = atomic_target(path)
    try:
        suffix = path.suffix.lower()
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        elif suffix in (".tif", ".tiff"):
            tifffile.imwrite(tmp, arr, compression="zlib")
        else:
            out = arr
            if out.ndim == 3 and out.shape[2] == 3:
                out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(tmp), out):
                raise UnetkitError(f"{path}: OpenCV could not write this format/dtype")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    tmp = atomic_target(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def remove_output(path: Path) -> None:
    """Remove an earlier run's output: a file, a link, or a folder (OME-Zarr, TensorBoard logs); nothing if absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
