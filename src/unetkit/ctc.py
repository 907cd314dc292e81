"""A tracked time lapse in the Cell Tracking Challenge's result format (``count --ctc``): a folder ``NAME_RES``
holding ``mask000.tif``, ``mask001.tif``, ... (one uint16 label image a frame) and ``res_track.txt`` (a line
``L B E P`` a track: its label, first and last frame, parent's label or 0), which the Challenge's evaluation
software (TRA, SEG, DET) and the tools built on it read.

The Challenge's tracks have no gaps: an object missing from a frame ends its track, and where it comes back a new
track starts whose parent is the old one. ``count``'s tracks bridge missed frames under one id, so each is cut
at its gaps into stretches (``Tracks.runs``), each a Challenge track; a daughter's parent is the last stretch of
her mother. Labels are numbered 1.. in order of track id and stretch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UnetkitError
from .linking import relabel

MAX_LABEL = np.iinfo(np.uint16).max   # the masks are 16-bit


@dataclass(frozen=True)
class Stretch:
    """One Challenge track: ``label`` over frames ``first``..``last`` of unetkit's track ``track``."""
    label: int
    first: int
    last: int
    parent: int
    track: int


def stretches(runs: dict[int, list[list[int]]], parents: dict[int, int]) -> list[Stretch]:
    """The Challenge's tracks of unetkit's: ``runs`` {track id: [first, last] frame of each stretch without a gap},
    ``parents`` {daughter's track id: mother's}."""
    labels, last_of = {}, {}
    for track in sorted(runs):
        for k in range(len(runs[track])):
            labels[track, k] = len(labels) + 1
        last_of[track] = labels[track, len(runs[track]) - 1]
    if len(labels) > MAX_LABEL:
        raise UnetkitError(f"{len(labels)} tracks (after cutting at gaps): the Challenge's 16-bit masks hold at most "
                           f"{MAX_LABEL}; count a smaller region or fewer frames")
    out = []
    for (track, k), label in labels.items():
        first, last = runs[track][k]
        parent = labels[track, k - 1] if k else last_of.get(parents.get(track, 0), 0)
        out.append(Stretch(label, first, last, parent, track))
    return out


def write_ctc(folder: Path, n_frames: int, read_frame: Callable[[int], np.ndarray], runs: dict, parents: dict,
              overwrite: bool = False) -> int:
    """``folder`` (``NAME_RES``) from the tracked label movie ``read_frame(t)`` (ids are track ids), written under a
    temporary name and renamed into place; returns the number of Challenge tracks. Memory: one frame (relabelled
    and written as one TIFF, as the Challenge's tools read them whole; its data sets' frames are a few megapixels).
    A whole-slide time lapse would hold a whole frame here: count it without ``--ctc``."""
    from .io.write import atomic_folder, commit_folder
    import tifffile
    found = stretches(runs, parents)
    digits = max(3, len(str(n_frames - 1)))   # mask000.tif; four digits for a movie of 1000 frames or more
    tmp = atomic_folder(folder)
    try:
        for t in range(n_frames):
            lut = {s.track: s.label for s in found if s.first <= t <= s.last}
            frame = relabel(np.asarray(read_frame(t)), lut)
            stray = np.setdiff1d(np.unique(frame[frame > 0]), list(lut.values()) or [0])
            if stray.size:   # every object of a tracked frame belongs to a track's stretch
                raise UnetkitError(f"{folder}: frame {t} holds ids {stray[:5].tolist()} of no track; count again")
            tifffile.imwrite(tmp / f"mask{t:0{digits}d}.tif", frame.astype(np.uint16), compression="zlib")
        (tmp / "res_track.txt").write_text("".join(f"{s.label} {s.first} {s.last} {s.parent}\n" for s in found))
        commit_folder(tmp, folder, overwrite)
    except BaseException:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(found)


def finish_tracked(labels, res: Path | None, n_frames: int, yx: tuple[int, int], tracks, overwrite: bool = False,
                   block: int = 4096) -> None:
    """The Challenge's ``res`` folder (unless None) from the tracked label image ``labels`` (an open
    ``blocks.omezarr.ZarrOutput`` whose ids are ``tracks``' ids), then the label image finished (pyramid, renamed
    into place); ``res`` is removed again if that fails, so neither is left without the other."""
    h, w = yx
    if res is not None:
        write_ctc(res, n_frames, lambda t: labels.read(t, 0, 0, h, 0, w), tracks.runs, tracks.parents, overwrite)
    try:
        labels.finish(overwrite, block)
    except BaseException:
        if res is not None:
            from .io import remove_output
            remove_output(res)
        raise


MEASURES = ("DET", "TRA", "LNK", "BC(0)", "CT", "TF")   # and SEG where the ground truth has SEG


def challenge_scores(res: Path, gt: Path) -> dict:
    """The Challenge's own measures of a result folder ``res`` (``NAME_RES``) against its ground truth ``gt`` (the
    ``NN_GT`` folder: ``TRA``, and ``SEG`` where there is one), computed by py-ctcmetrics (the Challenge's measures
    in Python; the ``ctc`` extra): ``MEASURES``, SEG, ``AOGM`` and ``valid`` (1 when the result obeys the format's
    rules), as ``{"ctc_" + name: value}``. Memory: as py-ctcmetrics reads the masks."""
    import contextlib
    import io
    try:
        from ctc_metrics import evaluate_sequence
    except ImportError:
        raise UnetkitError("the Challenge's measures need py-ctcmetrics: pip install 'unetkit[ctc]'") from None
    names = [*MEASURES, *(["SEG"] if (gt / "SEG").is_dir() else [])]
    try:
        with contextlib.redirect_stdout(io.StringIO()):   # it prints every result it computes
            got = evaluate_sequence(str(res), str(gt), [*names, "Valid"], threads=1)
    except AssertionError as exc:   # how py-ctcmetrics says a folder does not fit (frames that differ, none)
        raise UnetkitError(f"{res}: the Challenge's measures cannot be computed: {exc}") from None
    return {f"ctc_{k}": (None if got.get(k) is None else float(got[k])) for k in [*names, "AOGM", "Valid"]}
