"""Linking objects of consecutive planes (linking.py): mutual best overlap over an IoU floor, chains, splits."""
import numpy as np
from skimage.draw import disk

from unetkit.linking import LINK_IOU, RULES, TRACK_IOU, Overlaps, link_stack, relabel


def plane(*objects, size=64):
    out = np.zeros((size, size), np.uint32)
    for label, centre, r in objects:
        out[disk(centre, r, shape=out.shape)] = label
    return out


def test_a_nucleus_a_third_of_its_diameter_away_is_a_track_not_a_slice():
    a, b = plane((1, (30, 20), 8)), plane((2, (30, 25), 8))     # 5 px of a 17 px disc: IoU about 0.4
    overlaps = Overlaps()
    overlaps.add(a, b)
    assert overlaps.links(TRACK_IOU) == {2: 1} and overlaps.links(LINK_IOU) == {}


def test_a_split_object_passes_its_id_to_its_best_half_only_and_ids_chain_through_the_stack():
    whole = plane((1, (32, 32), 12))
    halves = whole.copy()
    halves[:, :36][halves[:, :36] == 1] = 2                      # the larger part
    halves[:, 36:][halves[:, 36:] == 1] = 3
    third = np.where(halves == 2, 4, np.where(halves == 3, 5, 0)).astype(np.uint32)
    linked, links = link_stack(np.stack([whole, halves, third]), TRACK_IOU)
    assert links.ids == {2: 1, 4: 1, 5: 3}                         # 3 starts a track; 5 goes on with it
    assert set(np.unique(linked[2])) == {0, 1, 3}
    # relabel leaves ids it is not given, and background, alone
    assert np.array_equal(relabel(third, {4: 9}), np.where(third == 4, 9, third))
    # regions counted apart add up to the whole planes' counts and centres (block by block as in memory)
    parts, whole_count = Overlaps(centres=True), Overlaps(centres=True)
    for cols in (slice(0, 40), slice(40, 64)):
        parts.add(whole[:, cols], halves[:, cols], (0, cols.start))
    whole_count.add(whole, halves)
    assert parts == whole_count


def test_a_nucleus_missed_in_one_frame_keeps_its_track_when_frames_are_bridged():
    first, missed, back = plane((1, (30, 20), 8)), plane(), plane((2, (30, 23), 8), (3, (10, 50), 5))
    stack = np.stack([first, missed, back])
    assert link_stack(stack, TRACK_IOU)[1].ids == {}                      # plane to plane: the gap ends the track
    linked, links = link_stack(stack, TRACK_IOU, bridge=True)
    assert links.ids == {2: 1} and set(np.unique(linked[2])) == {0, 1, 3}   # a new object elsewhere stays new
    # only an object missing from the frame between is bridged: a new one where a track was two frames ago (and
    # still goes on, moved) stays new, though it overlaps that track's old place well
    going_on = np.stack([first, plane((4, (30, 24), 8)), plane((5, (30, 28), 8), (6, (30, 16), 8))])
    overlaps = Overlaps()
    overlaps.add(going_on[0], going_on[2])
    assert overlaps.links(TRACK_IOU).get(6) == 1                          # what a bridge without the rule would take
    assert link_stack(going_on, TRACK_IOU, bridge=True)[1].ids == {4: 1, 5: 1}


def again(labels, shift):
    """The same objects under new ids (ids are unique over a stack)."""
    return np.where(labels > 0, labels + shift, 0).astype(np.uint32)


def test_a_nucleus_that_divides_ends_its_track_and_starts_two_whose_parent_it_is():
    mother = plane((1, (32, 32), 10))
    daughters = plane((2, (32, 24), 7), (3, (32, 41), 7))        # two of like size, where the mother was
    on = plane((4, (32, 22), 7), (5, (32, 43), 7))
    stack = np.stack([mother, daughters, on])
    assert link_stack(stack, **RULES["track"])[1].parents == {}          # tracks alone: no lineage
    linked, links = link_stack(stack, **RULES["lineage"])
    assert links.parents == {2: 1, 3: 1} and links.ids == {4: 2, 5: 3}
    assert set(np.unique(linked[1])) == {0, 2, 3}                        # the mother's id ends where she divided
    # a piece the network broke off (under half its sister's area) is not a daughter; nor is one of three parts
    piece = plane((2, (32, 26), 9), (3, (32, 40), 4))
    thirds = plane((2, (24, 26), 6), (3, (24, 40), 6), (4, (40, 33), 6))
    for second in (piece, thirds):
        assert link_stack(np.stack([mother, second, again(second, 10)]), **RULES["lineage"])[1].parents == {}
    # daughters in the last frame: nothing confirms them, so no division
    assert link_stack(np.stack([mother, daughters]), **RULES["lineage"])[1].parents == {}
    # a mother is never bridged on: a new object where she was, while her daughters go on, starts its own track
    late = plane((4, (32, 20), 7), (5, (32, 45), 7), (6, (32, 32), 6))
    _, links = link_stack(np.stack([mother, daughters, late]), **RULES["lineage"])
    assert links.parents == {2: 1, 3: 1} and links.ids == {4: 2, 5: 3}
    assert link_stack(np.stack([mother, daughters, late]), **RULES["track"])[1].ids[6] == 1   # bridged as a track


def test_a_nucleus_broken_in_two_for_one_frame_did_not_divide_and_keeps_its_track():
    whole = plane((1, (32, 32), 12))
    halves = whole.copy()
    halves[:, :34][halves[:, :34] == 1] = 2                      # two parts of like size for one frame
    halves[:, 34:][halves[:, 34:] == 1] = 3
    stack = np.stack([whole, halves, plane((4, (32, 33), 12)), plane((5, (32, 34), 12))])
    tracked, as_track = link_stack(stack, **RULES["track"])
    linked, links = link_stack(stack, **RULES["lineage"])
    assert links.parents == {} and links.ids == as_track.ids and np.array_equal(linked, tracked)
    assert {int(linked[t, 32, 30]) for t in range(4)} == {1}              # one id through the movie
    # broken in two for good: a division (the parts stay apart in the next frames)
    stack = np.stack([whole, halves, again(halves, 10), again(halves, 20)])
    assert link_stack(stack, **RULES["lineage"])[1].parents == {2: 1, 3: 1}


def test_daughters_born_apart_from_their_mother_are_found_by_where_they_lie():
    """A frame interval long against the division: the daughters no longer overlap their mother. Two new objects of
    like size whose centres lie within her diameter, their midpoint near her centre, are her daughters; two that
    are not placed about her, or one alone, are not."""
    mother = plane((1, (40, 40), 10), size=80)
    apart = plane((2, (40, 22), 7), (3, (40, 58), 7), size=80)          # 18 px each side: no pixel shared with her
    on = plane((4, (40, 20), 7), (5, (40, 60), 7), size=80)
    overlaps = Overlaps()
    overlaps.add(mother, apart)
    assert overlaps.pairs == {}                                            # nothing to link by overlap
    _, links = link_stack(np.stack([mother, apart, on]), **RULES["lineage"])
    assert links.parents == {2: 1, 3: 1} and links.ids == {4: 2, 5: 3}
    lopsided = plane((2, (40, 22), 7), (3, (20, 40), 7), size=80)         # both near her, midpoint off her centre
    alone = plane((2, (40, 22), 7), size=80)
    for second in (lopsided, alone):
        assert link_stack(np.stack([mother, second, again(second, 10)]), **RULES["lineage"])[1].parents == {}


def test_two_nuclei_merged_for_one_frame_and_apart_again_did_not_divide():
    """Two touching nuclei the network outlines as one object for a frame: one track goes on in the merged object,
    the other vanishes that frame. When they come apart, the one whose track ended takes it up again (bridged), as
    --t track links them; a lineage does not read the parting as a division of the merged object."""
    pair = plane((1, (32, 24), 8), (2, (32, 41), 8))
    merged = np.where(again(pair, 2) > 0, 3, 0).astype(np.uint32)       # one object where both were
    merged[32, 32] = 3
    apart = again(pair, 3)                                                  # 4 and 5, where 1 and 2 were
    stack = np.stack([pair, merged, apart, again(pair, 5)])
    tracked, as_track = link_stack(stack, **RULES["track"])
    linked, links = link_stack(stack, **RULES["lineage"])
    assert links.parents == {}
    assert {int(linked[t, 32, 41]) for t in (0, 2, 3)} == {2}              # the vanished one's track goes on
    assert {int(linked[t, 32, 24]) for t in range(4)} == {1}               # the other's through the merged frame
    assert np.array_equal(linked, tracked) and links.ids == as_track.ids


def test_a_nucleus_too_fast_for_the_overlap_rule_links_to_the_nearest_of_its_size_within_its_diameter():
    """A frame interval long against the motion: a nucleus 12 px on (of 17: no pixel shared) is still its track
    under the frame rules (mutual nearest left unlinked, within one diameter, of like size); two diameters on, or a
    piece a quarter its size, or across z-slices, it is not. Across a missed frame the bridge reaches as far."""
    a, b = plane((1, (30, 20), 8)), plane((2, (30, 32), 8))
    assert link_stack(np.stack([a, b]), TRACK_IOU)[1].ids == {}             # overlap alone: no link
    assert link_stack(np.stack([a, b]), **RULES["track"])[1].ids == {2: 1}
    assert link_stack(np.stack([a, b]), **RULES["slices"])[1].ids == {}
    far, piece = plane((2, (30, 52), 8)), plane((2, (30, 32), 4))
    for second in (far, piece):
        assert link_stack(np.stack([a, second]), **RULES["track"])[1].ids == {}
    # two near the ended one: the nearest is taken, the other starts its own track
    both = plane((2, (30, 32), 8), (3, (30, 4), 8))
    assert link_stack(np.stack([a, both]), **RULES["track"])[1].ids == {2: 1}
    gap = np.stack([a, plane(), plane((2, (30, 34), 8))])                    # 14 px on, a frame missed between
    assert link_stack(gap, **RULES["track"])[1].ids == {2: 1}


def test_a_nucleus_missed_in_two_frames_in_a_row_keeps_its_track_but_not_in_three():
    first, nothing = plane((1, (30, 20), 8)), plane()
    back = plane((2, (30, 23), 8))
    assert link_stack(np.stack([first, nothing, nothing, back]), **RULES["track"])[1].ids == {2: 1}
    assert link_stack(np.stack([first, nothing, nothing, nothing, back]), **RULES["track"])[1].ids == {}
    assert link_stack(np.stack([first, nothing, nothing, back]), TRACK_IOU, bridge=1)[1].ids == {}   # one only
