"""Issue 14: occluders from the real world (person, scene, object), still guaranteed on the person.

The pure functions are checked against brute force; the shapes on real crops parsed by the
embedded parser (prcc-mini, two splits) and on objects the tests draw themselves.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from conftest import shared_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from occreid.occlusion import (
    NOT_COVERED,
    OCCLUDED,
    Candidate,
    DonorBank,
    ObjectBank,
    Occluder,
    OcclusionParams,
    image_rng,
)
from occreid.occlusion import (
    functional as F,
)
from occreid.occlusion.transforms import PASTED_FIELDS


class Target(NamedTuple):
    relpath: str
    split: str
    pid: int | None


def small_masks(max_side=12):
    return st.integers(1, max_side).flatmap(lambda h: st.integers(1, max_side).flatmap(
        lambda w: arrays(bool, (h, w), elements=st.booleans())))


# -- pure functions --------------------------------------------------------------------------
@given(small_masks(14), small_masks(6))
@settings(max_examples=120, deadline=None)
def test_cover_counts_equals_brute_force(target, shape):
    counts = F.cover_counts(target, shape)
    (H, W), (h, w) = target.shape, shape.shape
    assert counts.shape == (H + h - 1, W + w - 1)
    padded = np.zeros((H + 2 * (h - 1), W + 2 * (w - 1)), bool)
    padded[h - 1:h - 1 + H, w - 1:w - 1 + W] = target
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):  # top-left at (i - (h - 1), j - (w - 1)) in image coordinates
            assert counts[i, j] == int((padded[i:i + h, j:j + w] & shape).sum())


def test_edge_alpha_ramps_inward_keeps_outside_zero_and_image_border_hard():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 0:12] = True  # touches the left border
    a = F.edge_alpha(mask, 2)
    assert (a[~mask] == 0).all() and (a[mask] > 0).all()
    assert a[5, 6] == pytest.approx(1 / 3) and a[6, 6] == pytest.approx(2 / 3) and a[9, 6] == 1.0
    assert a[10, 11] == pytest.approx(1 / 3) and a[10, 0] == 1.0  # right outline soft, image border hard
    assert (F.edge_alpha(mask, 0) == mask).all()
    with pytest.raises(ValueError, match="softness"):
        F.edge_alpha(mask, -1)


@given(arrays(np.uint8, (9, 7, 3)), arrays(np.uint8, (9, 7, 3)), arrays(np.float32, (9, 7), elements=st.sampled_from(
    [0.0, 0.25, 0.5, 1.0])))
@settings(max_examples=60, deadline=None)
def test_blend_leaves_zero_alpha_pixels_bit_identical_and_pastes_full_alpha(image, layer, alpha):
    out = F.blend(image, layer, alpha)
    assert (out[alpha == 0] == image[alpha == 0]).all()
    assert (out[alpha == 1] == layer[alpha == 1]).all()
    mid = alpha == 0.5
    assert (np.abs(out[mid].astype(int) - (image[mid].astype(int) + layer[mid]) / 2) <= 0.5).all()


@given(arrays(np.uint16, (8, 6)), arrays(np.uint16, (8, 6)), arrays(np.float32, (8, 6), elements=st.sampled_from(
    [0.0, 0.0, 0.375, 1.0])))
@settings(max_examples=60, deadline=None)
def test_blend_of_grey_16_bit_images_is_the_per_pixel_mix(image, layer, alpha):
    out = F.blend(image, layer, alpha)
    a = alpha.astype(np.float64)
    expected = np.where(alpha > 0, np.rint(a * layer + (1.0 - a) * image), image).astype(np.uint16)
    assert out.dtype == np.uint16 and np.array_equal(out, expected)


@given(small_masks(10), st.integers(1, 4), st.integers(1, 4))
@settings(max_examples=80, deadline=None)
def test_free_windows_and_largest_free_window_match_brute_force(blocked, h, w):
    free = F.free_windows(blocked, h, w)
    H, W = blocked.shape
    for y in range(H - h + 1):
        for x in range(W - w + 1):
            assert free[y, x] == (not blocked[y:y + h, x:x + w].any())
    found = F.largest_free_window(blocked, 1.0)
    if blocked.all():
        assert found is None
    else:
        side = found[0]
        assert found == (side, side) and F.free_windows(blocked, side, side).any()
        assert not F.free_windows(blocked, side + 1, side + 1).any()


def test_stamp_cuts_what_falls_off_the_image():
    patch = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    layer, alpha = F.stamp((6, 6), patch, np.ones((4, 5), np.float32), 4, -2)
    assert alpha.sum() == 2 * 3 and (alpha[4:, :3] == 1).all()
    assert (layer[4:, :3] == patch[:2, 2:]).all()


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, name", [
    (dict(shape="person", min_cover=0), "min_cover"), (dict(shape="person", min_cover=1.5), "min_cover"),
    (dict(shape="person", person_scale=(1.2, 0.8)), "person_scale"),
    (dict(shape="person", person_drop=(0, 2)), "person_drop"),
    (dict(shape="scene", edge_softness=-1), "edge_softness"), (dict(shape="scene", donor_split="other"), "donor_split"),
    (dict(shape="object", object_size=(0, 0.5)), "object_size"), (dict(shape="object"), "objects_dir"),
    (dict(shape="person", target=(0.2, 0.4)), "target"), (dict(shape="scene", fill="mean"), "fill"),
    (dict(shape="person", max_person_covered=0), "max_person_covered"), (dict(shape="blob"), "shape"),
])
def test_pasted_parameters_are_validated_with_messages_naming_them(bad, name):
    with pytest.raises(ValueError, match=name):
        OcclusionParams(**bad)


def test_fingerprints_of_old_shapes_unchanged_and_pasted_ones_round_trip():
    for shape in ("part", "rectangle"):
        assert not set(PASTED_FIELDS) & set(OcclusionParams(shape=shape).as_dict())
    params = OcclusionParams(shape="person", min_cover=0.6, person_scale=(0.8, 1.0))
    d = params.as_dict()
    assert d["person_scale"] == [0.8, 1.0] and d["min_cover"] == 0.6
    assert OcclusionParams(**d) == params


def test_person_and_scene_need_a_bank_and_a_target():
    with pytest.raises(ValueError, match="donor bank"):
        Occluder(OcclusionParams(shape="person"))
    bank = DonorBank([Candidate("a.jpg", "train", 1, "a.jpg")])
    with pytest.raises(ValueError, match="target"):
        Occluder(OcclusionParams(shape="scene"), bank).plan(_figure(), image_rng(0, "x"))


# -- objects the tests draw ---------------------------------------------------------------------
def _figure(h=256, w=128):
    parts = np.zeros((h, w), np.uint8)
    parts[16:44, 48:80] = 1
    parts[44:128, 36:92] = 2
    parts[50:120, 24:36] = 3
    parts[120:140, 24:36] = 4
    parts[128:192, 40:88] = 5
    parts[192:240, 40:88] = 6
    return parts


def _object_bank(root: Path) -> Path:
    (root / "ground" / "bins").mkdir(parents=True)
    (root / "held").mkdir()
    bin_ = np.zeros((60, 40, 4), np.uint8)
    bin_[..., :3] = (30, 120, 40)
    bin_[4:, 2:38, 3] = 255
    Image.fromarray(bin_).save(root / "ground" / "bins" / "bin.png")
    car = np.full((40, 90, 3), (200, 30, 30), np.uint8)  # an image + mask pair
    Image.fromarray(car).save(root / "ground" / "car.jpg", quality=95)
    car_mask = np.zeros((40, 90), np.uint8)
    car_mask[8:, :] = 255
    Image.fromarray(car_mask).save(root / "ground" / "car.mask.png")
    yy, xx = np.mgrid[:50, :36]
    bag = np.zeros((50, 36, 4), np.uint8)
    bag[..., :3] = (20, 20, 160)
    bag[((yy - 25) / 25) ** 2 + ((xx - 18) / 18) ** 2 < 1, 3] = 255
    Image.fromarray(bag).save(root / "held" / "bag.png")
    return root


def test_object_bank_naming_rule(tmp_path):
    bank = ObjectBank(_object_bank(tmp_path / "objs"))
    assert [name for name, _ in bank.files] == ["ground/bins/bin.png", "ground/car.jpg", "held/bag.png"]
    assert [kind for _, kind in bank.files] == ["ground", "ground", "held"]
    car = bank.load(1)
    assert car.mask.shape == (32, 90) and car.mask.all()  # cropped to its mask's box
    from occreid.occlusion.donors import objects_digest

    before = objects_digest(tmp_path / "objs")
    assert before == objects_digest(tmp_path / "objs")
    mask = np.zeros((40, 90), np.uint8)
    mask[20:, :] = 255
    Image.fromarray(mask).save(tmp_path / "objs" / "ground" / "car.mask.png")  # another car shape
    assert objects_digest(tmp_path / "objs") != before
    stray = tmp_path / "stray"
    (stray / "ground").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(stray / "ground" / "sign.jpg")
    with pytest.raises(ValueError, match=r"sign\.jpg has no alpha channel and no sign\.mask\.png"):
        OcclusionParams(shape="object", objects_dir=str(stray))
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(loose / "cone.png")
    with pytest.raises(ValueError, match=r"cone\.png must lie under ground/"):
        OcclusionParams(shape="object", objects_dir=str(loose))


def test_objects_stand_where_they_belong_and_cover_the_drawn_part(tmp_path):
    params = OcclusionParams(shape="object", objects_dir=str(_object_bank(tmp_path / "objs")), min_cover=0.5)
    occluder, parts = Occluder(params), _figure()
    image = np.full(parts.shape + (3,), 128, np.uint8)
    band = F.hands_to_head_band(parts)
    assert band == (16, 140)
    kinds, statuses = set(), set()
    for i in range(60):
        occ = occluder.plan(parts, image_rng(0, f"{i}.jpg"))
        statuses.add(occ.status)
        if occ.status != OCCLUDED:
            assert occ.status == NOT_COVERED and "covers 50% of the drawn" in occ.reason and not occ.mask.any()
            continue
        drawn = np.isin(parts, occ.parts)
        covered = ((occ.alpha >= 0.5) & drawn).sum() / drawn.sum()
        assert covered >= 0.5 and covered == pytest.approx(occ.part_covered)
        y0, x0, y1, x1 = F.mask_box(occ.mask)
        kind = "held" if occ.donor.startswith("held/") else "ground"
        kinds.add(kind)
        if kind == "ground":
            assert y1 == parts.shape[0]  # rises from the bottom edge
        else:
            assert band[0] <= (y0 + y1) / 2 <= band[1]
        if kind == "held" and y0 > 0 and x0 > 0 and x1 < parts.shape[1]:  # whole object on the image
            assert 0.3 * 224 - 2 <= y1 - y0 <= 0.6 * 224 + 2  # its height relative to the person's (224 px)
        out = occluder.apply(image, occ)
        assert (out[~occ.mask] == 128).all() and (out[occ.alpha == 1] != 128).any(axis=-1).all()
    assert kinds == {"ground", "held"} and OCCLUDED in statuses


def test_an_unreachable_promise_is_reported_not_silently_missed(tmp_path):
    params = OcclusionParams(shape="object", objects_dir=str(_object_bank(tmp_path / "objs")), min_cover=1.0,
                             object_size=(0.05, 0.06), max_draws=5)
    occ = Occluder(params).plan(_figure(), image_rng(0, "a.jpg"))
    assert occ.status == NOT_COVERED and not occ.mask.any()
    assert occ.reason.startswith("no placement of 5 objects and sizes covers 100% of the drawn ")


# -- real crops: donors from the dataset ------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    """~40 prcc-mini crops from two splits, parsed by the embedded parser, in memory."""
    from occreid.parser import make_parser

    root = shared_dataset("prcc-mini")
    train = sorted((root / "rgb" / "train").rglob("*.jpg"))[::6][:24]
    test = sorted((root / "rgb" / "test").rglob("*.jpg"))[::10][:16]
    parser = make_parser("mediapipe")
    images, maps, cands = {}, {}, []
    for path in train + test:
        rel = path.relative_to(root).as_posix()
        bits = rel.split("/")
        split, pid = bits[1], int(bits[2] if bits[1] == "train" else bits[3])
        with Image.open(path) as im:
            images[rel] = np.asarray(im.convert("RGB"))
        maps[rel] = parser.parse(images[rel]).parts
        cands.append(Candidate(rel, split, pid, str(path)))
    parser.close()
    targets = [Target(c.relpath, c.split, c.pid) for c in cands if maps[c.relpath] is not None]
    assert len(targets) >= 25, "the parser should find most of these people"
    return images, maps, cands, targets


def _bank(real, order=None):
    images, maps, cands, _ = real
    cands = list(cands) if order is None else order
    return DonorBank(cands, part_loader=lambda c: maps[c.relpath], image_loader=lambda c: images[c.relpath])


@pytest.mark.parametrize("shape", ["person", "scene"])
def test_donors_are_other_people_of_the_same_split_and_cover_the_drawn_part(real, shape):
    images, maps, cands, targets = real
    by_rel = {c.relpath: c for c in cands}
    params = OcclusionParams(shape=shape, min_cover=0.5)
    occluder = Occluder(params, _bank(real))
    occluded = 0
    for t in targets:
        parts = maps[t.relpath]
        occ = occluder.plan(parts, image_rng(0, t.relpath), t)
        if occ.status != OCCLUDED:
            assert occ.status == NOT_COVERED and occ.reason
            continue
        occluded += 1
        donor = by_rel[occ.donor]
        assert donor.pid != t.pid and donor.split == t.split and maps[donor.relpath] is not None
        drawn = np.isin(parts, occ.parts)
        covered = ((occ.alpha >= 0.5) & drawn).sum() / drawn.sum()
        assert covered >= params.min_cover and covered == pytest.approx(occ.part_covered)
        person = parts != 0
        if shape == "person":
            assert ((occ.alpha >= 0.5) & person).sum() <= params.max_person_covered * person.sum()
        else:  # the scene occluder is exactly the coarsened part mask
            assert (occ.mask == F.coarsen(drawn, params.pool_levels, params.pool_kernel, params.threshold)).all()
        out = occluder.apply(images[t.relpath], occ)
        assert (out[~occ.mask] == images[t.relpath][~occ.mask]).all()  # outside the footprint: bit-identical
        solid = occ.alpha == 1
        assert (out[solid] == occ.layer[solid]).all()  # inside: the donor's own pixels
    assert occluded >= 0.9 * len(targets)


def test_person_donor_is_scaled_to_the_target_and_stands_at_its_feet(real):
    images, maps, cands, targets = real
    params = OcclusionParams(shape="person")
    occluder = Occluder(params, _bank(real))
    checked = 0
    for t in targets:
        parts = maps[t.relpath]
        occ = occluder.plan(parts, image_rng(1, t.relpath), t)
        if occ.status != OCCLUDED:
            continue
        top, _, bottom, _ = F.person_box(parts)
        y0, x0, y1, x1 = F.mask_box(occ.mask)
        height = bottom - top
        if y1 < parts.shape[0] and x0 > 0 and x1 < parts.shape[1]:  # feet in view: person_drop below the target's
            assert bottom - 1 <= y1 <= bottom + params.person_drop[1] * height + 1
            if y0 > 0:  # whole donor visible: its height within person_scale
                checked += 1
                assert params.person_scale[0] * height - 2 <= y1 - y0 <= params.person_scale[1] * height + 2
    assert checked >= 3


def test_donor_split_any_draws_across_splits(real):
    _, maps, cands, targets = real
    split_of = {c.relpath: c.split for c in cands}
    occluder = Occluder(OcclusionParams(shape="person", donor_split="any"), _bank(real))
    crossed = sum(split_of[occ.donor] != t.split for t in targets
                  if (occ := occluder.plan(maps[t.relpath], image_rng(0, t.relpath), t)).status == OCCLUDED)
    assert crossed > 0


@pytest.mark.parametrize("shape", ["person", "scene"])
def test_same_rng_and_shuffled_candidates_give_the_same_bytes(real, shape):
    images, maps, cands, targets = real
    shuffled = list(cands)
    random.Random(5).shuffle(shuffled)
    a = Occluder(OcclusionParams(shape=shape), _bank(real))
    b = Occluder(OcclusionParams(shape=shape), _bank(real, shuffled))
    for t in targets[::3]:
        parts = maps[t.relpath]
        out_a, occ_a = a(images[t.relpath], parts, image_rng(3, t.relpath), t)
        out_again, _ = a(images[t.relpath], parts, image_rng(3, t.relpath), t)
        out_b, occ_b = b(images[t.relpath], parts, image_rng(3, t.relpath), t)
        assert occ_a.donor == occ_b.donor and occ_a.status == occ_b.status
        assert out_a.tobytes() == out_again.tobytes() == out_b.tobytes()


def test_no_other_identity_in_the_split_is_a_clear_not_covered(real):
    images, maps, cands, targets = real
    t = targets[0]
    alone = [c for c in cands if c.pid == t.pid] + [c for c in cands if c.split != t.split]
    occluder = Occluder(OcclusionParams(shape="person"), _bank(real, alone))
    occ = occluder.plan(maps[t.relpath], image_rng(0, t.relpath), t)
    assert occ.status == NOT_COVERED and occ.reason == f"no donor: no other identity in split {t.split}"


def test_pasted_occluders_keep_the_image_form_grey_rgba_and_16_bit(tmp_path):
    params = OcclusionParams(shape="object", objects_dir=str(_object_bank(tmp_path / "objs")))
    occluder, parts = Occluder(params), _figure()
    occ = next(o for i in range(20) if (o := occluder.plan(parts, image_rng(0, f"{i}"))).status == OCCLUDED)
    solid, off = occ.alpha == 1, ~occ.mask
    grey = np.full(parts.shape, 77, np.uint8)
    out = occluder.apply(grey, occ)
    assert out.shape == grey.shape and (out[off] == 77).all() and (out[solid] != 77).any()
    rgba = np.zeros(parts.shape + (4,), np.uint16)
    rgba[..., :3], rgba[..., 3] = 1000, 0  # transparent 16-bit
    out = occluder.apply(rgba, occ)
    assert out.dtype == np.uint16 and (out[solid, 3] == 65535).all() and (out[off] == rgba[off]).all()
    assert (out[solid, :3] == F.to_image_layer(occ.layer, rgba[..., :3])[solid]).all()


def test_donor_bank_eligibility_rules_and_order():
    cands = [Candidate("b/2.jpg", "train", 2, ""), Candidate("a/1.jpg", "train", 1, ""),
             Candidate("c/3.jpg", "test", 3, ""), Candidate("a/1b.jpg", "train", 1, ""),
             Candidate("d/x.jpg", "train", None, "")]
    bank = DonorBank(cands)
    names = lambda idx: [bank.candidates[i].relpath for i in idx]  # noqa: E731
    assert [c.relpath for c in bank.candidates] == sorted(c.relpath for c in cands)
    assert names(bank.eligible("a/1.jpg", "train", 1)) == ["b/2.jpg", "d/x.jpg"]
    assert names(bank.eligible("a/1.jpg", "train", 1, same_split=False)) == ["b/2.jpg", "c/3.jpg", "d/x.jpg"]
    assert names(bank.eligible("d/x.jpg", "train", None)) == ["a/1.jpg", "a/1b.jpg", "b/2.jpg"]  # only itself out
    with pytest.raises(ValueError, match="distinct"):
        DonorBank(cands + [cands[0]])


def test_saved_part_maps_any_cache_and_any_order_give_the_same_bytes(real, tmp_path):
    """What each worker does: a bank of files (images and part map PNGs), built fresh, small cache."""
    from occreid.parts import PALETTE

    images, maps, cands, targets = real
    root = shared_dataset("prcc-mini")
    for c in cands:
        if maps[c.relpath] is not None:
            path = tmp_path / "parts" / f"{c.relpath}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            im = Image.fromarray(maps[c.relpath])
            im.putpalette([v for rgb in PALETTE for v in rgb])
            im.save(path)
    records = [Target(c.relpath, c.split, c.pid) for c in cands]
    params = OcclusionParams(shape="person")

    def run(order, cache_size):
        occluder = Occluder(params, DonorBank.from_records(records, root, tmp_path / "parts", cache_size=cache_size))
        outs = {}
        for t in order:
            before = maps[t.relpath].copy()
            out, occ = occluder(images[t.relpath], maps[t.relpath], image_rng(9, t.relpath), t)
            assert (maps[t.relpath] == before).all()  # the target's part map is left as it was
            outs[t.relpath] = (occ.donor, out.tobytes())
        return outs

    first = run(targets, 256)
    assert first == run(targets[::-1], 1)
    in_memory = Occluder(params, _bank(real))
    for t in targets[:5]:  # the files give what the in-memory bank gives
        out, occ = in_memory(images[t.relpath], maps[t.relpath], image_rng(9, t.relpath), t)
        assert first[t.relpath] == (occ.donor, out.tobytes())


def test_unusable_donors_are_skipped_and_reported(tmp_path):
    from occreid.occlusion.donors import read_part_map_png

    (tmp_path / "bad.png").write_bytes(b"not a png")
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(tmp_path / "labels9.png")
    assert read_part_map_png(tmp_path / "missing.png") is None and read_part_map_png(tmp_path / "bad.png") is None
    assert read_part_map_png(tmp_path / "labels9.png") is None  # not a 0..6 label map
    cands = [Candidate("a.jpg", "train", 2, str(tmp_path / "missing.jpg"), str(tmp_path / "bad.png")),
             Candidate("b.jpg", "train", 3, str(tmp_path / "missing.jpg"), str(tmp_path / "missing.png"))]
    for shape in ("person", "scene"):
        occ = Occluder(OcclusionParams(shape=shape, max_draws=4), DonorBank(cands)).plan(
            _figure(), image_rng(0, "t.jpg"), Target("t.jpg", "train", 1))
        assert occ.status == NOT_COVERED and occ.reason == "no donor among 4 draws has a saved part map with a person"
