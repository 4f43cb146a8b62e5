"""parser/mask.py: the person-mask pixels next to the body that the distance cut-off dropped come
back with the nearest part's label; pixels apart from the body, or beyond the reach, do not."""

from __future__ import annotations

import numpy as np
import pytest

from occreid.parser.mask import grow, readmit, torso_length


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 40 map: head (1) above torso (2); the person mask is the map, a shoulder 4 px wide
    beside the torso, and a separate blob (another person) at the right edge."""
    parts = np.zeros((40, 40), np.uint8)
    parts[5:10, 10:20] = 1
    parts[10:30, 10:20] = 2
    person = parts > 0
    person[12:20, 20:24] = True  # touching the torso, 1-4 px from it
    person[10:30, 34:38] = True  # apart from the body
    return parts, person


def test_pixels_next_to_the_body_take_the_nearest_label():
    parts, person = _scene()
    out = grow(parts, person, reach=5)
    assert (out[12:20, 20:24] == 2).all()  # the shoulder is torso
    assert (out[10:30, 34:38] == 0).all()  # the other blob stays background
    assert (out[parts > 0] == parts[parts > 0]).all()  # no label of the map changes


def test_reach_bounds_how_far_the_map_grows():
    parts, person = _scene()
    out = grow(parts, person, reach=2)
    assert (out[12:20, 20:22] == 2).all()
    assert (out[12:20, 22:24] == 0).all()


def test_a_blob_joined_to_the_body_through_the_mask_is_reached_only_within_reach():
    parts, person = _scene()
    person[20:21, 20:34] = True  # a thin bridge from the torso to the other blob
    out = grow(parts, person, reach=5)
    assert (out[10:30, 34:38] == 0).all()  # 14+ px away: not reached
    assert (out[20, 20:25] == 2).all()


def test_nothing_to_add_returns_the_map_itself():
    parts, _ = _scene()
    assert grow(parts, parts > 0, reach=5) is parts
    assert grow(parts, np.ones_like(parts, bool), reach=0) is parts
    empty = np.zeros_like(parts)
    assert grow(empty, np.ones_like(parts, bool), reach=5) is empty


def test_pixels_outside_the_person_mask_are_never_added():
    parts, person = _scene()
    out = grow(parts, person, reach=10)
    assert not ((out > 0) & ~person).any()


def test_sizes_must_match():
    with pytest.raises(ValueError, match="differ in size"):
        grow(np.zeros((4, 4), np.uint8), np.zeros((4, 5), bool), 1.0)


def test_readmit_reaches_a_share_of_the_torso_length():
    lm = np.zeros((33, 3))
    lm[[11, 12], :2] = [[12, 10], [18, 10]]  # shoulders at y 10
    lm[[23, 24], :2] = [[12, 26], [18, 26]]  # hips at y 26: torso 16 px
    assert torso_length(lm) == pytest.approx(16.0)
    parts, person = _scene()
    near = readmit(parts, person, lm, share=0.125)  # 2 px
    assert (near[12:20, 20:22] == 2).all() and (near[12:20, 22:24] == 0).all()
    assert (readmit(parts, person, lm, share=0.25)[12:20, 20:24] == 2).all()  # 4 px
    lm[11, 0] = np.nan
    assert torso_length(lm) == 0.0
    assert readmit(parts, person, lm) is parts


def test_the_part_quality_of_a_grown_map_measures_agreement_before_it_grew():
    """A map grown towards the mask agrees with it by construction: its score's agreement is the
    core map's (``agreement_map``), so a map that missed part of the person still scores lower."""
    from occreid.parser.quality import agreement, part_quality

    parts, person = _scene()
    person[10:30, 34:38] = False  # one person: the map plus the shoulder it missed
    grown = grow(parts, person, reach=5)
    assert agreement(grown, person) == 1.0 > agreement(parts, person)
    assert part_quality(grown, None, person) > part_quality(grown, None, person, agreement_map=parts)
    assert part_quality(grown, None, person, agreement_map=parts) == part_quality(parts, None, person)


def test_the_embedded_parser_scores_its_grown_maps_on_their_cores():
    """On real crops, every map ``DirectParser`` grows with ``readmit`` is scored with the
    agreement measured on the map before it grew."""
    pytest.importorskip("ai_edge_litert")
    from conftest import shared_dataset
    from PIL import Image

    from occreid.parser import direct

    files = sorted(shared_dataset("prcc-mini").rglob("*.jpg"))[::40][:12]
    grown: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    scored: list[tuple[np.ndarray, np.ndarray | None]] = []
    readmit_, part_quality_ = direct.mask.readmit, direct.part_quality

    def readmit_spy(core, person, lm, *a, **k):
        out = readmit_(core, person, lm, *a, **k)
        grown[id(out)] = (out, core)
        return out

    def quality_spy(parts, score=None, person=None, agreement_map=None):
        scored.append((parts, agreement_map))
        return part_quality_(parts, score, person, agreement_map=agreement_map)

    direct.mask.readmit, direct.part_quality = readmit_spy, quality_spy
    try:
        with direct.DirectParser() as parser:
            for f in files:
                with Image.open(f) as im:
                    parser.parse(np.asarray(im.convert("RGB")))
    finally:
        direct.mask.readmit, direct.part_quality = readmit_, part_quality_
    checked = 0
    for parts, core in scored:
        kept = grown.get(id(parts))
        if kept is not None and kept[0] is parts and (parts != kept[1]).any():
            assert core is kept[1]
            checked += 1
    assert checked, "no scored map grew on these crops"
