"""The occlusion maths (pure functions) and its seeded wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from occreid.occlusion import Occluder, OcclusionParams, image_rng
from occreid.occlusion import functional as F

masks = st.integers(1, 70).flatmap(lambda h: st.integers(1, 70).flatmap(
    lambda w: arrays(bool, (h, w), elements=st.booleans())))


@given(masks, st.integers(0, 4), st.integers(1, 3))
@settings(max_examples=150, deadline=None)
def test_coarsen_any_overlap_is_a_union_of_cells_covering_the_mask(mask, levels, kernel):
    out = F.coarsen(mask, levels, kernel, threshold=0.0)
    cell = kernel**levels
    assert out.shape == mask.shape and out.dtype == bool
    assert not (mask & ~out).any()  # every part pixel is occluded
    for y in range(0, mask.shape[0], cell):  # each cell is all or nothing, on iff it has a part pixel
        for x in range(0, mask.shape[1], cell):
            block, mblock = out[y:y + cell, x:x + cell], mask[y:y + cell, x:x + cell]
            assert block.all() == mblock.any() and block.any() == mblock.any()


@given(masks, st.floats(0.0, 0.99))
@settings(max_examples=100, deadline=None)
def test_coarsen_threshold_keeps_cells_more_covered_than_it(mask, threshold):
    out = F.coarsen(mask, 2, 2, threshold)
    for y in range(0, mask.shape[0], 4):
        for x in range(0, mask.shape[1], 4):
            assert out[y:y + 4, x:x + 4].all() == (mask[y:y + 4, x:x + 4].mean() > threshold)
    assert F.coarsen(out, 2, 2, threshold).tolist() == out.tolist()  # idempotent


def test_coarsen_equals_four_successive_2x2_average_pools_when_divisible():
    rng = np.random.default_rng(1)
    mask = rng.random((64, 32)) < 0.1
    pooled = mask.astype(float)
    for _ in range(4):
        pooled = pooled.reshape(pooled.shape[0] // 2, 2, pooled.shape[1] // 2, 2).mean(axis=(1, 3))
    for threshold in (0.0, 0.25, 0.5):
        expected = np.kron(pooled > threshold, np.ones((16, 16), bool)).astype(bool)
        assert (F.coarsen(mask, 4, 2, threshold) == expected).all()


def test_coarsen_rejects_bad_parameters():
    with pytest.raises(ValueError, match="threshold"):
        F.coarsen(np.zeros((4, 4), bool), threshold=1.0)
    with pytest.raises(ValueError, match="2-D"):
        F.coarsen(np.zeros((4, 4, 3), bool))


def test_fuse_fills_only_the_mask_for_any_channels_and_dtype():
    for image in (np.full((8, 6), 9, np.uint8), np.full((8, 6, 3), 9, np.uint8), np.full((8, 6, 4), 900, np.uint16)):
        mask = np.zeros((8, 6), bool)
        mask[2:5, 1:3] = True
        out = F.fuse(image, mask, 0)
        assert (out[mask] == 0).all() and (out[~mask] == image[~mask]).all()
        assert (image == (900 if image.dtype == np.uint16 else 9)).all()  # input untouched
    with pytest.raises(ValueError, match="shape"):
        F.fuse(np.zeros((4, 4)), np.zeros((3, 4), bool))


def test_present_parts_and_coverage():
    parts = np.zeros((100, 50), np.uint8)
    parts[0:10, 20:30] = 1  # 100 px head
    parts[10:50, 10:40] = 2  # 1200 px torso
    parts[50:51, 10:12] = 6  # 2 px: below 2 % of the person
    assert F.present_parts(parts, 0.02) == [1, 2]
    assert F.present_parts(np.zeros((5, 5), np.uint8)) == []
    occ = np.zeros_like(parts, bool)
    occ[10:50, 10:40] = True
    image_fraction, person_fraction = F.coverage(occ, parts)
    assert image_fraction == pytest.approx(1200 / 5000)
    assert person_fraction == pytest.approx(1200 / 1302)


def test_image_rng_depends_only_on_seed_and_path():
    a = image_rng(3, "train/001.png").integers(1 << 30, size=4)
    b = image_rng(3, "train/001.png").integers(1 << 30, size=4)
    assert (a == b).all()
    assert not (a == image_rng(4, "train/001.png").integers(1 << 30, size=4)).all()
    assert not (a == image_rng(3, "train/002.png").integers(1 << 30, size=4)).all()


def _figure():
    parts = np.zeros((128, 64), np.uint8)
    parts[8:24, 24:40] = 1
    parts[24:64, 16:48] = 2
    parts[64:96, 16:48] = 5
    return parts


def test_present_choice_always_occludes_a_present_part_and_draws_all_of_them():
    occluder = Occluder(OcclusionParams())
    image = np.full((128, 64, 3), 120, np.uint8)
    seen = set()
    for i in range(200):
        out, occ = occluder(image, _figure(), image_rng(0, f"{i}.jpg"))
        assert occ.status == "occluded" and occ.part in (1, 2, 5)
        assert (out[occ.mask] == 0).all() and (out[~occ.mask] == 120).all()
        assert (occ.mask & (_figure() == occ.part)).sum() == (_figure() == occ.part).sum()
        seen.add(occ.part)
    assert seen == {1, 2, 5}


def test_paper_choice_draws_over_six_and_leaves_absent_parts_unoccluded():
    occluder = Occluder(OcclusionParams(part_choice="paper"))
    image = np.full((128, 64, 3), 120, np.uint8)
    statuses = {}
    for i in range(300):
        out, occ = occluder(image, _figure(), image_rng(0, f"{i}.jpg"))
        statuses.setdefault(occ.status, set()).add(occ.part)
        if occ.status == "part_absent":
            assert (out == image).all() and not occ.mask.any() and "absent" in occ.reason
    assert statuses["occluded"] == {1, 2, 5} and statuses["part_absent"] == {3, 4, 6}


def test_no_person_and_parameter_validation():
    occ = Occluder().plan(np.zeros((32, 16), np.uint8), image_rng(0, "x"))
    assert occ.status == "no_person" and not occ.mask.any()
    for bad in (dict(part_choice="random"), dict(threshold=1.5), dict(fill="pink"), dict(pool_levels=-1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            OcclusionParams(**bad)


def _frame(parts_present: tuple[int, ...], h: int = 96, w: int = 48) -> np.ndarray:
    """A part map with one horizontal band per present part (labels 1..6)."""
    m = np.zeros((h, w), np.uint8)
    band = h // 6
    for p in parts_present:
        m[(p - 1) * band : p * band, 8:40] = p
    return m


def test_tracklet_order_makes_every_frame_cover_the_first_present_part_of_one_draw():
    from occreid.occlusion import tracklet_order

    order = tracklet_order(0, "bbox_test/0001C1T0001")
    assert sorted(order) == [1, 2, 3, 4, 5, 6]
    occluder = Occluder(OcclusionParams())
    frames = [_frame((1, 2, 3, 4, 5, 6)), _frame(tuple(p for p in range(1, 7) if p != order[0])), _frame((1, 2, 5, 6))]
    for i, part_map in enumerate(frames):
        present = [p for p in order if (part_map == p).any()]
        occ = occluder.plan(part_map, image_rng(0, f"frame{i}.jpg"), order=order)
        assert occ.status == "occluded" and occ.parts == (present[0],)
    # without the order, per-frame draws do not all agree on one part (the behaviour --per tracklet fixes)
    drawn = {occluder.plan(_frame((1, 2, 3, 4, 5, 6)), image_rng(0, f"f{i}.jpg")).parts for i in range(20)}
    assert len(drawn) > 1


def test_tracklet_order_depends_on_seed_and_tracklet_only():
    from occreid.occlusion import tracklet_order

    assert tracklet_order(3, "a") == tracklet_order(3, "a")
    assert len({tracklet_order(s, t) for s in range(6) for t in "abcdef"}) > 10


def test_paper_choice_in_order_leaves_a_frame_without_the_part_unoccluded():
    occluder = Occluder(OcclusionParams(part_choice="paper"))
    order = (4, 1, 2, 3, 5, 6)
    assert occluder.plan(_frame((1, 2, 5, 6)), image_rng(0, "x"), order=order).status == "part_absent"
    assert occluder.plan(_frame((4, 5)), image_rng(0, "x"), order=order).parts == (4,)


def test_image_rng_separates_non_utf8_names_and_the_whole_seed_range():
    import os

    a, b = os.fsdecode(b"caf\xe9.jpg"), os.fsdecode(b"caf\xe8.jpg")
    draws = {image_rng(0, name).integers(1 << 62) for name in (a, b, "cafe.jpg")}
    assert len(draws) == 3
    assert image_rng(0, a).integers(1 << 62) == image_rng(0, a).integers(1 << 62)
    seeds = (0, 1, 2**32 - 1, 2**32, 2**63)
    assert len({image_rng(s, "x.jpg").integers(1 << 62) for s in seeds}) == len(seeds)
    with pytest.raises(ValueError, match="seed"):
        image_rng(-1, "x.jpg")


# -- fills -------------------------------------------------------------------------------------
def _box_reference(image: np.ndarray, radius: int) -> np.ndarray:
    """The mean over each (2r+1)^2 neighbourhood of the edge-replicated image, one pixel at a time."""
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image.astype(np.float64), pad, mode="edge")
    k = 2 * radius + 1
    out = np.empty(image.shape, np.float64)
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            out[y, x] = padded[y:y + k, x:x + k].mean(axis=(0, 1))
    return np.round(out).astype(image.dtype)


@given(st.integers(1, 24), st.integers(1, 24), st.sampled_from([(), (1,), (3,)]),
       st.sampled_from([np.uint8, np.uint16]), st.integers(1, 30), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_box_blur_is_the_mean_of_the_replicated_neighbourhood(h, w, channels, dtype, radius, seed):
    image = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, (h, w, *channels)).astype(dtype)
    out = F.box_blur(image, radius)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert (out == _box_reference(image, radius)).all()


@pytest.mark.parametrize("shape", [(40, 20), (40, 20, 1), (40, 20, 3)])
def test_fills_change_only_the_mask(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape).astype(np.uint8)
    mask = np.zeros(shape[:2], bool)
    mask[5:25, 3:15] = True
    texture = np.zeros((10, 10, 3), np.uint8)
    texture[..., 0] = 255
    noise = rng.integers(0, 256, shape).astype(np.uint8)
    outs = {"black": F.fill_black(image, mask), "mean": F.fill_mean(image, mask), "blur": F.fill_blur(image, mask, 4),
            "noise": F.fill_noise(image, mask, noise), "texture": F.fill_texture(image, mask, texture)}
    for name, out in outs.items():
        assert (out[~mask] == image[~mask]).all(), name
    assert (outs["black"][mask] == 0).all() and (outs["noise"][mask] == noise[mask]).all()
    red = 255 if len(shape) == 3 and shape[2] == 3 else round(0.299 * 255)
    assert (outs["texture"][mask][..., 0] == red).all()
    assert (outs["blur"][mask] == F.box_blur(image, 4)[mask]).all()


def test_opaque_under_and_paste_layer_keep_pixels_off_the_occluder():
    image = np.full((10, 10, 4), 7, np.uint16)
    image[..., 3] = 100
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    out = F.opaque_under(image, F.fill_black(image[..., :3], mask), mask)
    assert (out[mask][:, 3] == 65535).all() and (out[mask][:, :3] == 0).all() and (out[~mask] == image[~mask]).all()
    layer = np.full((10, 10, 3), 255, np.uint8)
    alpha = mask.astype(np.float32)
    pasted = F.paste_layer(image, layer, alpha, True)
    assert (pasted[mask] == 65535).all() and (pasted[~mask] == image[~mask]).all()


def test_texture_folder_is_checked_listed_and_drawn_by_the_fill_seed(tmp_path):
    from PIL import Image

    from occreid.occlusion.textures import check_texture_dir, texture_files

    with pytest.raises(ValueError, match="needs texture_dir"):
        check_texture_dir(None)
    with pytest.raises(ValueError, match="holds no images"):
        check_texture_dir(tmp_path)
    (tmp_path / "sub").mkdir()
    for name, rgb in (("sub/b.PNG", (0, 0, 255)), ("a.jpg", (255, 0, 0)), ("notes.txt", None)):
        if rgb is None:
            (tmp_path / name).write_text("x")
        else:
            Image.new("RGB", (8, 8), rgb).save(tmp_path / name, format="PNG" if name.endswith("PNG") else "JPEG")
    check_texture_dir(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in texture_files(tmp_path)] == ["a.jpg", "sub/b.PNG"]
    occluder = Occluder(OcclusionParams(fill="texture", texture_dir=str(tmp_path)))
    parts = np.zeros((64, 32), np.uint8)
    parts[8:60, 8:24] = 2
    image = np.full((64, 32, 3), 128, np.uint8)
    colours = set()
    for i in range(30):
        out, occ = occluder(image, parts, image_rng(0, f"{i}.png"))
        inside = out[occ.mask]
        assert (np.abs(inside.astype(int) - inside[0]) <= 3).all()  # one texture per image
        colours.add(int(np.argmax(inside[0])))
    assert colours == {0, 2}  # both textures are drawn
