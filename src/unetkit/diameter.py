"""Counting at the object size the model learned (Cellpose's lesson): estimate the typical
object diameter of an image, rescale it so objects have the training diameter, label at
that scale, and map the labels back.

The estimate comes from the model itself: predict at the current scale, take the median
equivalent diameter of the foreground's connected components (in the image's own
pixels; components, not split objects, because a model far off its size range splits a
big nucleus into fragments while its foreground still covers it whole), and when that is
outside the band the model handles well (training diameter / ``BAND`` .. x ``BAND``),
try the scales of a geometric ladder, those nearest the scale that first estimate asks for
first, and keep the one at which the objects found are in the band (the estimate is
self-consistent there), closest to ``AIM`` x the training diameter. Nearest first, not cheapest first: a far-off scale
can be self-consistent too (a dense field of small nuclei, shrunk 5x, becomes a few blobs
of the training size), so the search stops once it has a consistent rung within a factor
``NEAR`` of the estimate. Images whose objects are already in the band are predicted as
they are, so nothing changes where the model was measured (DSB 2018 nuclei). Images outside the band
are brought to ``AIM`` x the training diameter, not to it: the network separates touching nuclei
better with more pixels across each, and the training diameter is a median, not the size it
handles best (benchmarks/README.md, 32).

The first look can be fooled the other way too: nuclei 4-8x the training size come out as
fragments of about the training size (a 137 px nucleus as 13-24 px pieces), which look in
band, or (textured ones) as 5-10 px specks, which look small. So a cheap probe
(``probe_sizes``: four coarse scales, no TTA, ~6 % of a TTA pass by pixel count; ``large_size``) asks whether the image
holds big objects. Real objects keep their size in image pixels from one scale to the next;
fragments, specks and blobs keep theirs in the model's pixels. Only a size that holds across
two neighbouring probe scales counts, so small nuclei, which vanish or merge into scale-pegged
blobs there, never do; and only when the first look's objects grow, one rung coarser, faster
than pegged pieces would (``first_look_grows``), since touching small nuclei merge into clumps
of a stable size at the probe's scales. Where the first look calls its objects small and the
probe big, less growth suffices: real small nuclei keep their size one rung coarser, specks do not; so it does
where every probe agrees on the big size (``all_agree``), which clumps of small nuclei never give.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .config import InstanceConfig
from .data.prepare import scaled_shape
from .errors import SetupError, UnetkitError
from .instances import Objects, objects_from_probs, relabel, split_distance

LADDER = (0.125, 0.18, 0.25, 0.35, 0.5, 0.71, 1.41, 2.0, 2.83)   # x the model's working scale
NEAR = 2.0              # consistent rungs within this factor of the first estimate's scale end the search
BAND = 1.5              # objects within training diameter / 1.5 .. x 1.5 are left at their size
AIM = 1.25              # objects outside the band are brought to 1.25 x the training diameter (benchmarks 32: on
                        # nuclei 2-8x DSB's, F1 0.807 -> 0.841 and 0.903 -> 0.919; 1.15 and 1.4 pick nearly the same
                        # rungs and score the same; in-band images untouched)
SETTLED = 0.15          # relative change of scale under which the estimate has settled
MIN_OBJECTS = 3         # fewer objects give no estimate: keep the scale
SCALE_RANGE = (0.1, 4.0)
PROBE = (0.125, 0.18, 0.25, 0.35)   # x the working scale: coarse looks that see objects 2-8x the training size whole
AGREE = 1.2             # the probes' sizes in image px agree within this factor: real objects, not pegged ones
STEP = 0.71             # the first look's check: one rung coarser
GROWTH = 1.55           # fragments of big objects grow faster than a pegged size (1 / STEP = 1.41) from there
GROWTH_SMALL = 1.1      # ... and specks below the band faster than real small nuclei (0.94-1.02), see first_look_grows;
                        # 1.3 until stop 38 let specks under camera noise (1.18-1.29) through (benchmarks/README.md 36)
ALL_AGREE = 1.1         # every probe's size within 10 %: objects that keep their size from 1/8 to 1/3 of the scale
GROWTH_SURE = 1.25      # ... need only grow faster than real in-band nuclei (1.0-1.2) from the first look: specks
                        # noise pushed into the band grow 1.36 (benchmarks/README.md 37)
MAX_UPSCALED = 4096 * 4096  # px: the search skips upward rungs that would make the image larger than this


def aim_scale(trained: float, diameter: float) -> float:
    """The scale that brings objects of ``diameter`` px to ``AIM`` x the ``trained`` diameter: the one rule behind
    the size search, ``--diameter PX`` and the fine-tune's size matching."""
    return trained * AIM / diameter


def median_diameter(labels: np.ndarray) -> tuple[float | None, int]:
    """(median equivalent diameter in px, number of objects) of a label image."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    if len(areas) < MIN_OBJECTS:
        return None, len(areas)
    return float(np.median(np.sqrt(4 * areas / np.pi))), len(areas)


def predict_at(predictor, x: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, distance head or None) of ``x`` at ``scale``, in the scaled image's pixels."""
    return split_distance(predictor.probabilities(x, scale=scale, map_back=False), predictor.heads == "all")


def labels_from(probs: np.ndarray, distance: np.ndarray | None, shape: tuple[int, int], scale: float,
                icfg: InstanceConfig) -> tuple[Objects, float | None]:
    """(the objects split from a prediction at ``scale``, mapped back to ``shape`` (``objects_to_shape``); the
    median diameter of the foreground components, in image pixels)."""
    from scipy import ndimage

    from .instances import foreground_and_interior
    mask, _ = foreground_and_interior(probs, icfg)
    comps = relabel(ndimage.label(mask)[0], icfg.min_size)
    found, _ = median_diameter(comps)
    found = found / scale if found else None
    return objects_to_shape(objects_from_probs(probs, icfg, distance), shape), found


def objects_to_shape(objects: Objects, shape: tuple[int, int]) -> Objects:
    """``objects`` labelled at a working scale with their labels resized to ``shape`` by nearest neighbour and
    renumbered 1..N in the same order (objects under a pixel vanish). Their scores stay those read at the working
    scale, where ``min_score`` read them (a resized map would dilute a small nucleus' peak or miss it)."""
    native = to_shape(objects.labels, shape, renumber=False)
    if native is objects.labels:
        return objects
    scores = objects.scores
    kept = np.flatnonzero(np.bincount(native.ravel(), minlength=len(scores) + 1)[1:])
    lut = np.zeros(len(scores) + 1, np.int32)
    lut[kept + 1] = np.arange(1, len(kept) + 1)    # as to_shape renumbers
    return dataclasses.replace(objects, labels=lut[native], scores=scores[kept])


def to_shape(labels: np.ndarray, shape: tuple[int, int], renumber: bool = True) -> np.ndarray:
    """Labels made at a working scale resized to the image's ``shape`` by nearest neighbour
    (``renumber=False`` keeps the working scale's ids, gaps where objects vanished)."""
    h, w = (int(n) for n in shape)
    if labels.shape == (h, w):
        return labels
    labels = cv2.resize(labels.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int32)
    return relabel(labels, 1) if renumber else labels  # objects smaller than a pixel vanish: renumber 1..N


def labels_at_scale(predictor, x: np.ndarray, scale: float, icfg: InstanceConfig):
    """(``Objects`` on ``x``'s grid, diameter found, the prediction (probabilities, distance or None)) of ``x`` at
    ``scale``."""
    pred = predict_at(predictor, x, scale)
    return (*labels_from(*pred, x.shape[:2], scale, icfg), pred)


def _info(objects: Objects, **how) -> dict:
    """``choose_scale``'s account: how the size was found, with the objects' scores and how many were unsure."""
    return {**how, "scores": objects.scores, "unsure": objects.unsure}


def count_labels(predictor, x: np.ndarray, icfg: InstanceConfig) -> tuple[np.ndarray, dict]:
    """Labels of an image at the right object size, and how the size was found (``scale``, ``diameter``,
    ``passes``) with each object's ``scores`` (its peak probability, index k-1 for label k) and ``unsure``: how many
    objects scored under the settings' ``min_score`` and were dropped."""
    labels, info, _ = choose_scale(predictor, x, icfg)
    return labels, info


def choose_scale(predictor, x: np.ndarray, icfg: InstanceConfig, *,
                 capped: bool = True) -> tuple[np.ndarray, dict, tuple]:
    """(labels, how the size was found, the prediction at the chosen scale): ``count_labels`` (its dict also
    holds ``scores``, each object's, index k-1 for label k, and ``unsure``) plus the probabilities it labelled,
    so a caller that labels them again with other settings (``calibrate``) does not predict twice. Holds at most three predictions of the image: the first
    look, the best candidate so far and the current one. ``capped``: enlarge ``x`` only within
    ``MAX_UPSCALED`` (``affordable``); a caller whose ``x`` is a window of bounded size passes False."""
    trained = predictor.meta.get("diameter")
    base = predictor.scale
    setting = icfg.diameter
    if setting in (None, "off") or (setting == "auto" and not trained):
        objects, _, pred = labels_at_scale(predictor, x, base, icfg)
        return objects.labels, _info(objects, scale=base, diameter=None, passes=1), pred
    if setting != "auto":
        try:
            given = float(setting)
        except (TypeError, ValueError):
            raise SetupError(f"--diameter {setting}: pass a diameter in px, auto or off") from None
        if given <= 0:
            raise SetupError(f"--diameter {setting}: must be a positive number of px")
        if not trained:
            raise SetupError("--diameter needs a model that records its training object diameter "
                               "(bundled models, or runs trained on instance labels)")
        scale = float(np.clip(aim_scale(trained, given), *SCALE_RANGE))   # where the search would bring them
        shape = scaled_shape(x.shape[:2], scale)
        if min(shape) < predictor.multiple:   # the diameter is off, not the image: say so before the predictor does
            raise UnetkitError(f"--diameter {setting} px shrinks this {x.shape[0]}x{x.shape[1]} px image by "
                               f"{scale:.2f}, under the network's minimum {predictor.multiple} px a side; pass the "
                               "objects' typical diameter in px, or auto")
        objects, _, pred = labels_at_scale(predictor, x, scale, icfg)
        return objects.labels, _info(objects, scale=scale, diameter=given, passes=1), pred
    objects, found, pred = labels_at_scale(predictor, x, base, icfg)
    labels, info = objects.labels, _info(objects, scale=base, diameter=found, passes=1)
    sizes = probe_sizes(predictor, x, icfg)   # are the objects found fragments of big ones?
    big = large_size(sizes, predictor.scale, trained)
    info["passes"] += len(PROBE)
    if big is not None and (found is None or first_look_grows(predictor, x, icfg, found, trained,
                                                             sure=all_agree(sizes))):
        info["passes"] += 1
        found = big
    if found is None or in_band(found * base, trained):
        return labels, info, pred  # no estimate, or objects already at a size the model handles
    # Off the model's size range its estimate is rough (a big nucleus may come out as fragments, touching small
    # ones as one component), so it only orders the search: rungs nearest the scale it asks for come first, and
    # a rung counts when the objects found there are in the band (self-consistent), closest to the aim.
    aim = trained * AIM       # px: the size the search brings objects outside the band to
    guess = aim_scale(trained, found)   # the absolute scale (x the image) that brings ``found`` px to it
    rungs = sorted((base * f for f in LADDER), key=lambda s: abs(np.log(s / guess)))
    best = None
    for scale in rungs:
        if best is not None and abs(np.log(scale / guess)) > np.log(NEAR):
            break  # a consistent rung near the estimate beats any far one
        if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] or not fits(predictor, x, scale):
            continue
        if capped and not affordable(x, scale):
            info["skipped_above"] = min(scale, info.get("skipped_above", scale))
            continue
        candidate_objects, size, candidate = labels_at_scale(predictor, x, scale, icfg)
        info["passes"] += 1
        if size is None or not in_band(size * scale, trained):
            continue
        err = abs(np.log(size * scale / aim))
        if best is None or err < best[0]:
            best = (err, candidate_objects.labels,
                    _info(candidate_objects, scale=scale, diameter=size, passes=info["passes"]), candidate)
        if err < np.log(1 + SETTLED):
            break
    if best is None:
        return labels, info, pred
    best[2].update({k: v for k, v in info.items() if k in ("passes", "skipped_above")})
    return best[1], best[2], best[3]


def probe_sizes(predictor, x: np.ndarray, icfg: InstanceConfig) -> list[float | None]:
    """The median size in image px of the objects seen at each ``PROBE`` scale, without TTA (coarse looks need no
    flips); None where the image is too small for the scale or holds too few objects."""
    quick = without_tta(predictor)
    return [labels_at_scale(quick, x, scale, icfg)[1] if fits(predictor, x, scale) else None
            for scale in (predictor.scale * f for f in PROBE)]


def large_size(sizes: list[float | None], scale: float, trained: float) -> float | None:
    """The finest pair of neighbouring probes whose sizes in image px agree within ``AGREE`` (real objects;
    blobs, specks and fragments pegged to the model's own size differ by the rungs' ratio, 1.4), their size when
    it is above the band, else None. The finest agreeing pair, because it sees the objects at the most detail
    while still seeing them whole (textured nuclei fragment at the finer probes)."""
    for a, b in reversed(list(zip(sizes, sizes[1:]))):
        if a and b and max(a, b) / min(a, b) <= AGREE:
            size = float(np.sqrt(a * b))
            return size if size * scale > trained * BAND else None
    return None


def all_agree(sizes: list[float | None]) -> bool:
    """Whether every probe saw objects and their sizes agree within ``ALL_AGREE``: objects that keep one size in
    image px from 1/8 to 1/3 of the scale are real big ones, not clumps that merge further at each coarser rung."""
    return all(sizes) and max(sizes) / min(sizes) <= ALL_AGREE


def fits(predictor, x: np.ndarray, scale: float) -> bool:
    """Whether ``x`` resized by ``scale`` is still as large as the network's input multiple."""
    return min(x.shape[:2]) * scale >= predictor.multiple


def affordable(x: np.ndarray, scale: float) -> bool:
    """Whether the search may look at ``x`` resized by ``scale``: shrinking always, enlarging while the
    result stays within ``MAX_UPSCALED`` px. Specks that no probe explains read as small objects and ask
    for the largest rungs; on an image of 1500 px a side 2.83x is 19 Mpx per pass, with flips minutes on
    a 2-core CPU for an answer that is rarely right. Nuclei that small in an image that large are a
    slide's job (``--blocks``) or ``--diameter``'s."""
    return scale <= 1 or x.shape[0] * x.shape[1] * scale ** 2 <= MAX_UPSCALED


def without_tta(predictor):
    """The same predictor, one pass per tile: the size checks need no flips."""
    return dataclasses.replace(predictor, cfg=dataclasses.replace(predictor.cfg, tta=False))


def first_look_grows(predictor, x: np.ndarray, icfg: InstanceConfig, found: float, trained: float,
                     sure: bool = False) -> bool:
    """Whether the first look saw parts of bigger objects: one rung coarser (``STEP``, no TTA) its
    objects grow in image px by more than ``GROWTH``. Real objects keep about their size (up to 1.35 on
    the DSB 2018 images where the probe fires: dev, the 40 pick images, all 96 of 500 px or more),
    pieces pegged to the model's size grow by 1 / STEP, fragments of big nuclei by 1.6-7. Clumps of
    touching small nuclei fool the probe alone (9 of the 80 dev images moved to wrong scales, merged
    counts); this check keeps them at the first look's size. Objects below the band need less
    (``GROWTH_SMALL``): real small nuclei keep their size there (0.94-1.02 on every DSB image whose
    first look found them small), while the specks a textured big nucleus breaks into grow 1.4-1.8x
    (benchmarks/README.md, 19), and 1.18-1.29x under mild camera noise, where the coarser look breaks
    into specks too (section 36). Where every probe agrees on the big size (``sure``, ``all_agree``), objects in
    band need only ``GROWTH_SURE``: noise can push a textured nucleus's specks into the band (15.7 px, growing
    1.36x; section 37), while real in-band nuclei under such a probe grow 1.0-1.2."""
    small = found * predictor.scale < trained / BAND
    least = GROWTH_SMALL if small else GROWTH_SURE if sure else GROWTH
    quick = without_tta(predictor)
    scale = predictor.scale * STEP
    if not fits(predictor, x, scale):
        return False
    coarser = labels_at_scale(quick, x, scale, icfg)[1]
    return coarser is not None and coarser / found > least


def native_settings(icfg: InstanceConfig, scale: float) -> InstanceConfig:
    """The watershed's pixel settings for labelling at full resolution what was predicted at
    ``scale`` (the block path labels native-resolution probabilities): lengths / scale, areas /
    scale^2, so a speck dropped at the working scale is dropped here too."""
    import dataclasses
    if scale == 1.0:
        return icfg
    return dataclasses.replace(
        icfg, min_distance=max(int(round(icfg.min_distance / scale)), 1), smooth=icfg.smooth / scale,
        min_size=int(round(icfg.min_size / scale ** 2)), min_marker=int(round(icfg.min_marker / scale ** 2)),
        max_hole=int(round(icfg.max_hole / scale ** 2)))


def in_band(working_diameter: float, trained: float) -> bool:
    return trained / BAND <= working_diameter <= trained * BAND


def matching_scale(labels: np.ndarray, trained: float | None, scale: float = 1.0) -> float:
    """The scale to fine-tune an annotated image at: the one ``count`` will show the network its
    objects at. Objects in the band around the model's training diameter ``trained`` stay at the
    working ``scale``, as ``count`` leaves them; objects outside it are brought to ``AIM`` x ``trained`` px
    (within ``SCALE_RANGE``, and enlarging no further than ``MAX_UPSCALED`` px, where ``count``
    stops too), as ``count``'s size search brings them. Training at the image's own size instead
    teaches the network sizes it is never shown (benchmarks/README.md, 21-22: on big textured
    nuclei the fine-tune lost F1 at their own size and gained resized). No estimate (fewer than
    ``MIN_OBJECTS`` objects): ``scale``."""
    found, _ = median_diameter(labels)
    if not trained or found is None or in_band(found * scale, trained):
        return scale
    most = float(np.sqrt(MAX_UPSCALED / labels.size))
    return float(np.clip(aim_scale(trained, found), SCALE_RANGE[0], min(SCALE_RANGE[1], max(most, 1.0))))
