"""The functions behind the napari widgets. napari builds each form from the annotations (magicgui) and adds the
returned layer; the functions run the layer's pixels through what ``count`` and ``predict`` run (``unetkit.label``,
a ``Predictor``), so they run, and are tested, without a viewer or Qt.

A layer is counted plane by plane: a 2-D image (gray or RGB) as ``unetkit count`` counts a file, a stack (time
points, z-slices) one plane at a time with ids kept unique over the stack, then (``link``) linked from plane to
plane as ``unetkit count --z slices`` links slices and ``--t track`` (``lineage``) frames (``linking``); a linked time
lapse also gives napari's Tracks layer (each track's path, and its divisions as napari's graph). Layers larger than
``BlockConfig.max_pixels`` per plane are refused: a whole slide goes through ``unetkit count`` (block by block) and
its OME-Zarr labels open in napari. Memory: the layer's pixels (napari holds them) plus one plane's predictions
(and the labels once more while they are linked).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import numpy as np

from ..config import TRACKED, BlockConfig
from ..errors import UnetkitError
from ..linking import RULES


def _predictor(model: str, tta: bool):
    """A loaded model, kept between runs of a widget (loading costs seconds; counting a small image, less) until
    its file changes (a run retrained into the same folder)."""
    from ..checkpoint import resolve_model_path
    path = resolve_model_path(model)
    return _load(str(path), path.stat().st_mtime_ns, tta)


@lru_cache(maxsize=2)
def _load(path: str, mtime: int, tta: bool):
    from ..config import PredictConfig
    from ..predictor import Predictor
    return Predictor.load(path, PredictConfig(tta=tta))


def _planes(layer) -> tuple[np.ndarray, tuple]:
    """(the layer's full-resolution pixels, the shape of its leading (stack) axes), checked for size."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    rgb = bool(getattr(layer, "rgb", False))
    spatial = 3 if rgb else 2
    if data.ndim < spatial:
        raise UnetkitError(f"{layer.name}: a layer of shape {data.shape} has no image plane")
    h, w = data.shape[-spatial:][:2]
    if h * w > BlockConfig().max_pixels:
        raise UnetkitError(f"{layer.name}: {h}x{w} px per plane is a whole slide; count it with 'unetkit count' "
                           "(block by block) and open its NAME_labels.ome.zarr in napari")
    return data, tuple(data.shape[:-spatial])


def _each_plane(lead: tuple, what: str):
    """The stack's plane indices, shown as a progress bar in napari's activity panel (a time lapse of a hundred
    frames takes minutes)."""
    from napari.utils import progress
    return progress(list(np.ndindex(*lead)), desc=f"unetkit {what}, planes")


def _layer_kwargs(layer, name: str, **metadata) -> dict:
    """The new layer's name and metadata, lying exactly over the image: its scale and translation (napari gives an
    RGB layer one entry per axis other than the colours, as many as the new layer has)."""
    kw = {"name": name, "metadata": metadata}
    for key in ("scale", "translate"):
        value = getattr(layer, key, None)
        if value is not None:
            kw[key] = tuple(float(v) for v in value)
    return kw


LINKS = ("none", *RULES)


def count_objects(image: napari.layers.Image, model: str = "nuclei", diameter: float = 0.0,
                  min_score: Annotated[float, {"min": -1.0, "max": 1.0, "step": 0.05}] = -1.0,
                  tta: bool = True, link: Annotated[str, {"choices": list(LINKS)}] = "none",
                  ) -> list[napari.types.LayerDataTuple]:
    """Count objects (nuclei, cells) in an image layer: a labels layer, one id per object (and for a time lapse
    linked into tracks, a tracks layer).

    model: a bundled name (nuclei), a run folder or a .keras file. diameter: typical object size in px
    (0 = found per plane). min_score: drop objects whose peak probability is under it (-1 = the model's own,
    0.6 for nuclei; 0 keeps every object, for dim frames). tta: average the four flips (2x slower, more accurate).
    link: a stack's objects linked from plane to plane into one id, as 'unetkit count' links them: slices (a
    z-stack, IoU >= 0.5), track (a time lapse: mutual best overlap >= 0.25, else the nearest within a diameter; up
    to two missed frames bridged) or lineage (tracks that divide: each daughter a track, its parent in the tracks
    layer's graph); none: an id per plane."""
    from .. import label
    from ..instances import instance_settings
    if link not in LINKS:
        raise UnetkitError(f"link {link!r}: choose {', '.join(LINKS)}")
    predictor = _predictor(str(model), bool(tta))
    icfg = instance_settings(predictor.meta, diameter=float(diameter) if diameter else "auto",
                             min_score=float(min_score) if min_score >= 0 else None)
    data, lead = _planes(image)
    if link != "none" and len(lead) > 1:   # before any plane is counted
        raise UnetkitError(f"{image.name}: link {link} follows objects along one stack axis; this layer has "
                           f"{len(lead)} ({' x '.join(map(str, lead))} planes)")
    out = None
    counts, scores, unsure, offset = [], [], 0, 0
    for index in _each_plane(lead, "count"):
        labels, info = label(predictor, np.asarray(data[index]), instance_cfg=icfg, name=image.name)
        if out is None:
            out = np.zeros(lead + labels.shape, np.uint32)
        out[index] = np.where(labels > 0, labels.astype(np.uint32) + offset, 0)
        counts.append(int(labels.max()))
        scores.append(info["scores"])
        unsure += info["unsure"]
        offset += counts[-1]
    score = np.concatenate(scores)
    linked, parents = {}, {}
    if link != "none" and lead:   # (one plane: nothing to link)
        from ..linking import link_stack
        out, links = link_stack(out, **RULES[link])
        linked, parents = links.ids, links.parents
        final = np.array([linked.get(i, i) for i in range(1, offset + 1)], np.int64)
        best = np.zeros(offset + 1)
        np.maximum.at(best, final, score)   # a linked object's score: its best plane's
        score = best[final]
    kw = _layer_kwargs(image, f"{image.name} objects", count=sum(counts), counts_per_plane=counts, model=str(model),
                       unsure_dropped=unsure,   # objects under the min score, dropped
                       **({"linked_objects": offset - len(linked)} if link != "none" and lead else {}),
                       **({"divisions": len(parents) // 2} if link == "lineage" and lead else {}))
    # one row per id: napari shows an object's score under the cursor, as objects.csv has it
    kw["features"] = {"index": np.arange(1, offset + 1), "score": np.round(score, 3)}
    layers = [(out, kw, "labels")]
    if link in TRACKED and lead:
        layers.append(_tracks_layer(out, parents, _layer_kwargs(image, f"{image.name} tracks", model=str(model))))
    return layers


def track_objects(labels: napari.layers.Labels, link: Annotated[str, {"choices": list(TRACKED)}] = "track"
                  ) -> list[napari.types.LayerDataTuple]:
    """Track a labels layer made elsewhere (Cellpose, StarDist, painted by hand): a time lapse (T, Y, X) whose
    frames number their objects as they like, linked as 'unetkit track' links them: a labels layer whose ids are
    tracks, and a tracks layer.

    link: track (mutual best overlap >= 0.25, else the nearest within a diameter; up to two missed frames bridged)
    or lineage (tracks that divide: each daughter a track, its parent in the tracks layer's graph)."""
    from ..linking import link_stack
    from ..track_labels import renumbered
    if link not in TRACKED:
        raise UnetkitError(f"link {link!r}: choose {', '.join(TRACKED)}")
    data = labels.data[0] if getattr(labels, "multiscale", False) else labels.data
    if data.ndim != 3 or not np.issubdtype(data.dtype, np.integer):
        raise UnetkitError(f"{labels.name}: a {data.dtype} layer of shape {data.shape}; tracking takes a time lapse "
                           "of label images (T, Y, X)")
    out, n = np.zeros(data.shape, np.uint32), 0
    for (t,) in _each_plane(data.shape[:1], "track"):
        out[t], n = renumbered(np.asarray(data[t]), n, f"{labels.name}: frame {t}")
    out, links = link_stack(out, **RULES[link])
    kw = _layer_kwargs(labels, f"{labels.name} tracks", objects=n, tracks=n - len(links.ids),
                       **({"divisions": len(set(links.parents.values()))} if link == "lineage" else {}))
    return [(out, kw, "labels"), _tracks_layer(out, links.parents, _layer_kwargs(labels, f"{labels.name} tracks"))]


def _tracks_layer(labels: np.ndarray, parents: dict, kw: dict) -> napari.types.LayerDataTuple:
    """napari's Tracks layer of a linked time lapse ``labels`` (T, Y, X): a row (track id, t, y, x) at each object's
    centroid in each frame, sorted by track and time, and the divisions as napari's graph {daughter: [parent]}."""
    from scipy import ndimage
    rows = []
    for t, plane in enumerate(labels):
        ids = np.unique(plane)[1:] if plane.any() else []
        for i, (y, x) in zip(ids, ndimage.center_of_mass(plane > 0, plane, ids)):
            rows.append((int(i), t, y, x))
    data = np.array(sorted(rows), float).reshape(-1, 4)
    kw["graph"] = {int(d): [int(p)] for d, p in parents.items()}
    return data, kw, "tracks"


def probabilities(image: napari.layers.Image, model: str = "nuclei",
                  tta: bool = False) -> napari.types.LayerDataTuple:
    """The model's probability per pixel for an image layer (overlap-tile, at the model's own scale): an image
    layer with the classes along a last axis of its own (background / interior / boundary for nuclei)."""
    from ..prediction import segment_array
    predictor = _predictor(str(model), bool(tta))
    data, lead = _planes(image)
    out = None
    for index in _each_plane(lead, "probabilities"):
        probs = segment_array(predictor, np.asarray(data[index]), name=image.name)[0]   # as predict has them
        if out is None:
            out = np.zeros(lead + probs.shape[:2] + (probs.shape[2],), np.float32)
        out[index] = probs
    kw = _layer_kwargs(image, f"{image.name} probabilities", model=str(model))
    kw["channel_axis"] = out.ndim - 1   # one image layer per class, each with the image's scale and place
    return out, kw, "image"
