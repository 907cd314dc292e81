"""Objects of consecutive planes linked into one: z-slices of a nucleus, frames of a track.

An object takes the id of the previous plane's object it overlaps most, where each is the other's best match and
their IoU is at least a threshold: ``LINK_IOU`` for z-slices (the same nucleus a slice apart), ``TRACK_IOU`` for
frames (``count --t track``: a nucleus may move up to about half its diameter a frame and keep IoU 0.25; IoU 0.5
stops at a quarter, benchmarks/README.md section 35). Above IoU 0.5 a match is unique anyway.
Objects of frames left unlinked by overlap (a nucleus that moved more than about half its diameter) link to the
nearest left unlinked within ``REACH`` of its diameter, of like size, each the other's nearest
(``Overlaps.nearest``). Frames also bridge up to ``MISSED`` missed frames: an object that starts in a frame links to
one that vanished in one of the frames before it, the latest first, by the same rules. A lineage
(``count --t lineage``) also finds divisions: two objects of like size, each smaller than their mother, born in
place (together they are her by the frame rule) or apart (about the centre of a mother who ended), start two tracks
whose parent she is (``Links.parents``, the Cell Tracking Challenge's parent column), once both are found again in
the next frame (``Overlaps.divisions``), and unless one of them takes up, by the bridge, a track that ended before
(two nuclei merged for a frame or two, then apart). The overlaps of two planes are counted region by region
(``Overlaps.add``), so ``link_planes`` links a whole slide's planes block by block (``blocks.labels``) and a stack
held in memory at once (``link_stack``, the napari widget).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LINK_IOU = 0.5     # z slices
TRACK_IOU = 0.25   # frames
# what each kind of stack links by (z-slices; frames, as count's --t names them): link_planes' settings
# a nucleus that moved too far for the overlap rule (more than about half its diameter a frame) is linked to the
# nearest object left unlinked within this many of its diameters, where each is the other's nearest and their sizes
# are alike (benchmarks/README.md section 37)
REACH = 1.0
# frames in a row a nucleus may be missed in (a dim frame, a flicker of the network) and keep its track
# (benchmarks/README.md section 37: two bridge most of what one leaves broken where detections drop often)
MISSED = 2
RULES = {"slices": {"min_iou": LINK_IOU}, "track": {"min_iou": TRACK_IOU, "bridge": MISSED, "reach": REACH},
         "lineage": {"min_iou": TRACK_IOU, "bridge": MISSED, "divide": True, "reach": REACH}}
# a daughter is at least this share of its sister's area: a piece the network broke off a nucleus is not a daughter
SISTER_AREA = 0.5
# and at most this share of her mother's (daughters are about half): one as large is the mother going on, a newcomer
# beside her
DAUGHTER_AREA = 0.8


@dataclass
class Links:
    """What linking found: ``ids`` {raw id: linked id}; ``parents`` {daughter's id: parent's id} where an object
    divided (frames linked with ``divide``; a daughter keeps its own id, its parent's track ends the frame before)."""
    ids: dict = field(default_factory=dict)
    parents: dict = field(default_factory=dict)


@dataclass
class Overlaps:
    """Pixel counts of every object of plane a and plane b, and of every pair that overlaps."""
    pairs: dict = field(default_factory=dict)    # (id in a, id in b) -> overlapping pixels
    area_a: dict = field(default_factory=dict)
    area_b: dict = field(default_factory=dict)
    centres: bool = False                         # also sum each object's pixel coordinates (divisions need them)
    sums_a: dict = field(default_factory=dict)   # id -> [sum of rows, sum of columns]: its centre, with its area
    sums_b: dict = field(default_factory=dict)

    def add(self, a: np.ndarray, b: np.ndarray, origin: tuple[int, int] = (0, 0)) -> None:
        """Count one region of the two planes (same place, same shape; 0 = background), whose first pixel is at
        ``origin`` of the plane (for the objects' centres)."""
        a, b = a.astype(np.uint64), b.astype(np.uint64)
        for ids, area, sums in ((a, self.area_a, self.sums_a), (b, self.area_b, self.sums_b)):
            inside = ids > 0
            v, where, c = np.unique(ids[inside], return_inverse=True, return_counts=True)
            for i, n in zip(v.tolist(), c.tolist()):
                area[i] = area.get(i, 0) + n
            if self.centres:
                ys, xs = np.nonzero(inside)
                sy = np.bincount(where, ys + origin[0], len(v))
                sx = np.bincount(where, xs + origin[1], len(v))
                for i, y, x in zip(v.tolist(), sy.tolist(), sx.tolist()):
                    total = sums.setdefault(i, [0.0, 0.0])
                    total[0] += y
                    total[1] += x
        both = (a > 0) & (b > 0)
        v, c = np.unique((a[both] << np.uint64(32)) | b[both], return_counts=True)
        for key, n in zip(v.tolist(), c.tolist()):
            pair = (key >> 32, key & 0xFFFFFFFF)
            self.pairs[pair] = self.pairs.get(pair, 0) + n

    def centre(self, side: str, i: int) -> np.ndarray:
        """(y, x) centre of object ``i`` of plane a or b, in the plane's pixels."""
        area, sums = (self.area_a, self.sums_a) if side == "a" else (self.area_b, self.sums_b)
        return np.array(sums[i]) / area[i]

    def links(self, min_iou: float) -> dict[int, int]:
        """{id in b: id in a} for the pairs that are each other's best match with IoU >= ``min_iou``."""
        best_of_a: dict[int, tuple[float, int]] = {}
        best_of_b: dict[int, tuple[float, int]] = {}
        for (ia, ib), n in self.pairs.items():
            iou = n / (self.area_a[ia] + self.area_b[ib] - n)
            if iou > best_of_a.get(ia, (0.0, 0))[0]:
                best_of_a[ia] = (iou, ib)
            if iou > best_of_b.get(ib, (0.0, 0))[0]:
                best_of_b[ib] = (iou, ia)
        return {ib: ia for ib, (iou, ia) in best_of_b.items() if iou >= min_iou and best_of_a[ia][1] == ib}

    def divisions(self, links: dict[int, int], min_iou: float) -> dict[int, int]:
        """{daughter in b: parent in a}: two objects of b of like size (the smaller at least ``SISTER_AREA`` of the
        larger), neither more than ``DAUGHTER_AREA`` of the mother's area nor linked to another object, that are
        either (born in place) the only two to overlap the same object of a most, and taken as one that object by
        the linking rule (IoU >= ``min_iou``); or (born apart, a frame interval long against the division) the only
        two new objects whose centres lie within the diameter of an object of a that ended (linked to nothing),
        their midpoint within her radius of her centre."""
        most: dict[int, tuple[int, int]] = {}          # id in b -> (pixels, id in a it overlaps most)
        for (ia, ib), n in self.pairs.items():
            if n > most.get(ib, (0, 0))[0]:
                most[ib] = (n, ia)
        children: dict[int, list[int]] = {}
        for ib, (_, ia) in most.items():
            children.setdefault(ia, []).append(ib)
        linked_from = {ia: ib for ib, ia in links.items()}
        found = {}
        for ia, pair in children.items():
            if (len(pair) != 2 or any(links.get(ib, ia) != ia for ib in pair)
                    or linked_from.get(ia, pair[0]) not in pair):
                continue
            sizes = [self.area_b[ib] for ib in pair]
            inside = sum(self.pairs[ia, ib] for ib in pair)
            if self._sisters(ia, pair) and inside / (self.area_a[ia] + sum(sizes) - inside) >= min_iou:
                found.update({ib: ia for ib in pair})
        new = [ib for ib in self.area_b if ib not in links and ib not in found]
        if not new or not self.centres:
            return found
        where = np.array([self.centre("b", ib) for ib in new])
        mothers = set(found.values())
        for ia in self.area_a:
            if ia in linked_from or ia in mothers:
                continue
            centre, radius = self.centre("a", ia), np.sqrt(self.area_a[ia] / np.pi)
            near = [k for k in np.flatnonzero(np.hypot(*(where - centre).T) <= 2 * radius) if new[k] not in found]
            pair = [new[k] for k in near]
            if len(pair) == 2 and self._sisters(ia, pair) and np.hypot(*(where[near].mean(0) - centre)) <= radius:
                found.update({ib: ia for ib in pair})
                mothers.add(ia)
        return found

    def nearest(self, free_a, free_b, reach: float) -> dict[int, int]:
        """{id in b: id in a} for objects of ``free_a`` and ``free_b`` (linked to nothing) that are each other's
        nearest by centre, at most ``reach`` of a's diameter apart, the smaller at least ``SISTER_AREA`` of the
        larger's area (a piece broken off a nucleus is not it)."""
        from scipy.spatial import cKDTree   # nearest neighbours in n log n: a slide's frames hold many objects
        free_a, free_b = sorted(free_a), sorted(free_b)
        if not free_a or not free_b:
            return {}
        ca = np.array([self.centre("a", i) for i in free_a])
        cb = np.array([self.centre("b", i) for i in free_b])
        dist, nearest_a = cKDTree(ca).query(cb)      # for each of b, its nearest of a
        nearest_b = cKDTree(cb).query(ca)[1]
        found = {}
        for j, i in enumerate(nearest_a.tolist()):
            a, b = free_a[i], free_b[j]
            sizes = sorted((self.area_a[a], self.area_b[b]))
            if (nearest_b[i] == j and dist[j] <= reach * 2 * np.sqrt(self.area_a[a] / np.pi)
                    and sizes[0] >= SISTER_AREA * sizes[1]):
                found[b] = a
        return found

    def _sisters(self, mother: int, pair: list) -> bool:
        """Two objects of b of like size, each under ``DAUGHTER_AREA`` of ``mother``'s area."""
        sizes = [self.area_b[ib] for ib in pair]
        return min(sizes) >= SISTER_AREA * max(sizes) and max(sizes) <= DAUGHTER_AREA * self.area_a[mother]


def relabel(b: np.ndarray, lut: dict[int, int]) -> np.ndarray:
    """``b`` with each id in ``lut`` replaced by its value (uint32)."""
    if not lut:
        return b.astype(np.uint32)
    keys = np.array(sorted(lut), np.uint64)
    vals = np.array([lut[k] for k in sorted(lut)], np.uint32)
    pos = np.clip(np.searchsorted(keys, b), 0, len(keys) - 1)
    hit = (keys[pos] == b) & (b > 0)
    return np.where(hit, vals[pos], b).astype(np.uint32)


def link_planes(read, write, n: int, regions, min_iou: float, *, bridge: int = 0, divide: bool = False,
                reach: float = 0.0, step=None) -> Links:
    """Link the objects of planes 0..n-1 in order, each plane to the one before; returns the ``Links``.

    ``read(k, region)`` gives plane k's labels in ``region`` (y0, y1, x0, x1), ``write(k, region, labels)`` puts them
    back; a plane is rewritten once its links are known, so an object linked before passes its (final) id on.
    ``bridge`` (frames: how many in a row may be missed): an object that starts in plane k also links, by the same
    rules, to one last seen in plane k-2 (then k-3, ... k-1-bridge), so a nucleus the network missed keeps its
    track. ``divide`` (lineages):
    ``Overlaps.divisions`` end a track and start two, whose parent it is (a parent is never bridged on), once both
    daughters are found again in the next frame: a nucleus the network broke in two for one frame did not divide
    (nor one in the last frame, which nothing can confirm), and it is linked as a track, the frames from its
    would-be division rewritten once more at the end. Nor did one of whose would-be daughters the bridge takes up
    a track that ended before: two nuclei merged for a frame or two, apart again. ``step(k)`` is called as plane
    k is linked (progress).
    Memory: two or three planes' regions at a time and the ids of the last ``bridge`` + 1 planes.
    """
    found = Links()
    divided: set[int] = set()           # parents: their tracks ended by dividing
    recent: list[set[int]] = []         # final ids of planes k-1, k-2, ... (as many as the bridge spans, and one)
    pending: dict[int, tuple] = {}      # divisions into plane k-1, to be confirmed: mother -> (daughters, her match)
    undo: dict[int, int] = {}           # daughters of divisions not confirmed -> the mother whose track they go on
    since = n                           # the first plane such a daughter is in (rewritten from there at the end)
    for k in range(1, n):
        if step is not None:
            step(k)
        overlaps = Overlaps(centres=divide or reach > 0)
        for region in regions:
            overlaps.add(read(k - 1, region), read(k, region), (0, 0) if region is None else (region[0], region[2]))
        if not recent:
            recent = [set(overlaps.area_a)]   # plane 0 is never rewritten
        lut = overlaps.links(min_iou)
        daughters = overlaps.divisions(lut, min_iou) if divide else {}
        ids = set(overlaps.area_b)
        bridged, newer = {}, set()
        for gap in range(2, min(k, bridge + 1) + 1):   # tracks that ended gap - 1 frames ago, the latest first
            newer |= recent[gap - 2]
            ended = recent[gap - 1] - newer - divided
            starts = ((ids - set(lut)) | set(daughters)) - set(bridged)
            bridged.update(_bridges(read, regions, k, gap, ended, starts, min_iou, reach))
        for mother in {daughters[ib] for ib in daughters if ib in bridged}:
            # a would-be daughter that takes up a track which ended a frame or two before: two nuclei the network
            # merged for a frame or two (one went on in the merged object, the other vanished), apart again
            for ib in [d for d, m in daughters.items() if m == mother]:
                del daughters[ib]
                if ib not in lut and ib in bridged:
                    lut[ib] = bridged[ib]
        matched = {ia: ib for ib, ia in daughters.items() if ib in lut}   # the one a track would have gone on in
        for ib in daughters:
            lut.pop(ib, None)
        found.parents.update(daughters)
        divided.update(daughters.values())
        lut.update({ib: ia for ib, ia in bridged.items() if ib not in lut and ib not in daughters})
        if reach:   # what neither overlap nor a division nor the bridge took: the nearest within reach
            free_a = set(overlaps.area_a) - set(lut.values()) - set(daughters.values())
            lut.update(overlaps.nearest(free_a, ids - set(lut) - set(daughters), reach))
        if lut:
            for region in regions:
                write(k, region, relabel(read(k, region), lut))
            found.ids.update(lut)
        recent = [{lut.get(i, i) for i in ids}, *recent][:bridge + 1]
        if _deny(pending, lambda kids: not set(kids) <= recent[0], found, undo):   # both daughters in plane k?
            since = min(since, k - 1)
        pending = {ia: (tuple(ib for ib, m in daughters.items() if m == ia), matched.get(ia))
                   for ia in set(daughters.values())}
    if _deny(pending, lambda kids: True, found, undo):
        since = min(since, n - 1)
    if undo:
        _go_on(read, write, regions, range(since, n), undo, found)
    return found


def _bridges(read, regions, k: int, gap: int, ended: set, starts: set, min_iou: float, reach: float = 0.0
             ) -> dict[int, int]:
    """{object of plane k: object of plane k-gap} for the ``starts`` of plane k and the objects that ``ended`` in
    plane k-gap (in it, in none of the planes since) that are each other's best match with IoU >= ``min_iou``, then
    (``reach``) the nearest of those left (``Overlaps.nearest``)."""
    if not ended or not starts:
        return {}
    pairs = Overlaps(centres=reach > 0)
    ended_ids, start_ids = np.array(sorted(ended), np.uint64), np.array(sorted(starts), np.uint64)
    for region in regions:
        a, b = read(k - gap, region), read(k, region)
        pairs.add(np.where(np.isin(a, ended_ids), a, 0), np.where(np.isin(b, start_ids), b, 0),
                  (0, 0) if region is None else (region[0], region[2]))
    links = pairs.links(min_iou)
    if reach:
        links.update(pairs.nearest(set(pairs.area_a) - set(links.values()), set(pairs.area_b) - set(links), reach))
    return links


def _deny(pending: dict, unconfirmed, found: Links, undo: dict) -> bool:
    """Withdraw the ``pending`` divisions whose daughters are ``unconfirmed``: no parents, and the daughter the
    mother matched goes on in her track (``undo``); whether a daughter's id must be rewritten."""
    rewrite = False
    for mother, (kids, match) in pending.items():
        if unconfirmed(kids):
            for kid in kids:
                found.parents.pop(kid, None)
            if match is not None:
                undo[match] = mother
                rewrite = True
    return rewrite


def _go_on(read, write, regions, planes, undo: dict, found: Links) -> None:
    """Rewrite ``planes`` with each withdrawn daughter's id given to the track it goes on (chains followed: a
    daughter may go on in a mother who was such a daughter herself), and the ``Links`` to say so."""
    def final(i):
        while i in undo:
            i = undo[i]
        return i
    lut = {d: final(d) for d in undo}
    for k in planes:
        for region in regions:
            write(k, region, relabel(read(k, region), lut))
    found.ids = {raw: lut.get(linked, linked) for raw, linked in {**found.ids, **lut}.items()}
    found.parents = {kid: lut.get(mother, mother) for kid, mother in found.parents.items()}


def link_stack(stack: np.ndarray, min_iou: float, *, bridge: int = 0, divide: bool = False, reach: float = 0.0
               ) -> tuple[np.ndarray, Links]:
    """(the stack with objects linked along its first axis, the ``Links``), by ``link_planes``: ids must be
    unique over the stack (each plane's own ids shifted past the planes before). Memory: the stack, once more."""
    out = stack.astype(np.uint32, copy=True)

    def write(k, _region, labels):
        out[k] = labels
    links = link_planes(lambda k, _region: out[k], write, len(out), [None], min_iou, bridge=bridge, divide=divide,
                        reach=reach)
    return out, links
