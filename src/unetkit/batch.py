"""Running a command over many files: a bad file is reported and skipped (or stops the
batch), finished images can be skipped on a rerun, and a summary names every failure.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from .errors import SetupError, UnetkitError
from .io import is_image_file

ON_ERROR = ("skip", "stop")
_MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr")


class BatchError(UnetkitError):
    """Some files of a batch failed; the others were written."""


def image_stem(path: Path) -> str:
    """The name outputs are called after: 'a' for a.png, a.ome.tif and a.ome.zarr; a folder of images taken as one
    (``--sequence``) by its whole name."""
    name = path.name
    if path.is_dir() and not name.lower().endswith(".zarr"):
        return name
    for suffix in _MULTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def collect_inputs(inputs, sequences: bool = False) -> list[Path]:
    """Files (and Zarr folders) named directly, plus the images inside any folder named; with ``sequences``
    (``--sequence``) each folder named is one input, an image whose files are its frames or slices. ``inputs``: a
    list of paths, or one path (a string would otherwise be read letter by letter)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if sequences and p.exists():
            files.append(p)   # open_image says what is wrong with a file or an empty folder
        elif is_image_file(p):
            files.append(p)
        elif p.is_dir():
            found = sorted(q for q in p.iterdir() if is_image_file(q))
            if not found:
                raise UnetkitError(f"{p}: no image files in this folder; check the path")
            files += found
        elif p.exists():
            files.append(p)  # its reader will say what is wrong with it
        else:
            raise UnetkitError(f"{p}: input not found; check the path")
    if not files:
        raise UnetkitError("no input images given")
    stems: dict[str, Path] = {}
    for f in files:
        other = stems.setdefault(image_stem(f), f)
        if other != f:
            raise UnetkitError(f"{f}: has the same name as {other}, so their outputs would collide; "
                               "rename one or predict them into different folders")
    return files


def run_batch(files: list[Path], work: Callable[[Path], object], *, on_error: str = "skip") -> tuple[list, list]:
    """``work(file)`` for each file: (results of the good ones, [(file, message)] of the bad).

    A failure (``UnetkitError``) is reported at once and skipped, or stops the batch with
    ``on_error="stop"``; a ``SetupError`` (an option or the machine, not the file) always stops it. The caller
    writes what it has, then calls ``raise_failures``."""
    if on_error not in ON_ERROR:
        raise UnetkitError(f"--on-error {on_error}: choose skip or stop")
    results, failures = [], []
    for f in files:
        try:
            results.append(work(f))
        except SetupError:
            raise   # not this file's fault: every other file would fail the same way
        except UnetkitError as exc:
            if on_error == "stop":
                raise
            failures.append((f, str(exc)))
            if len(files) > 1:   # one file: raise_failures says it, once
                print(f"[unetkit] skipped {_named(f, str(exc))}", file=sys.stderr, flush=True)
    return results, failures


def raise_failures(failures: list, total: int) -> None:
    if not failures:
        return
    if total == 1:   # one file asked for: its own one-line message
        raise BatchError(_named(*failures[0]))
    lines = "\n".join(f"  {_named(f, msg)}" for f, msg in failures)
    done = "the others were written" if len(failures) < total else "none was written"
    raise BatchError(f"{len(failures)} of {total} files failed ({done}):\n{lines}")


def _named(f: Path, msg: str) -> str:
    """``msg`` starting with the file it is about (most messages name it already)."""
    return msg if str(f) in msg else f"{f}: {msg}"
