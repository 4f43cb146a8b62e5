"""The default parser: the pose landmark model run directly on person crops.

Pure parts first (region maths, heatmap refinement, bars, silhouettes), then the parser on real
crops from ../shared/data: people found, bars trimmed, tiny crops upscaled, wide frames, the
silhouette fallback, non-person images rejected, determinism.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, ImageFilter

from occreid.parser import ParseResult, framing, make_parser, pose, silhouette

# ------------------------------------------------------------------------------------------------
# Region of interest maths (no model)
# ------------------------------------------------------------------------------------------------


def test_roi_matrix_maps_the_region_onto_the_input_and_back():
    m = pose.roi_matrix(64.0, 128.0, 320.0)
    # The region's centre is the input's centre; its corners the input's corners (continuous).
    centre = pose.to_image(np.array([[128.0, 128.0]]), m)
    assert np.allclose(centre, [[64.0, 128.0]])
    corners = pose.to_image(np.array([[0.0, 0.0], [256.0, 256.0]]), m)
    assert np.allclose(corners, [[64 - 160, 128 - 160], [64 + 160, 128 + 160]])
    # The pixel-index form OpenCV uses: pixel (i, j) of the image lands at M @ (i, j, 1).
    u = m @ np.array([63.5, 127.5, 1.0])
    assert np.allclose(u, [127.5, 127.5])
    with pytest.raises(ValueError):
        pose.roi_matrix(0, 0, 0)


def test_crop_and_landmark_regions():
    assert pose.crop_roi(256, 128, 1.5) == (64.0, 128.0, 384.0)
    lm = np.zeros((39, 3))
    lm[33, :2] = (50, 150)  # hip centre
    lm[34, :2] = (50, 70)  # above the head: 80 px away
    assert pose.landmark_roi(lm, 1.5) == (50.0, 150.0, 240.0)
    lm[34, :2] = np.nan
    assert pose.landmark_roi(lm) is None


def test_mask_roi_frames_the_mask_box():
    person = np.zeros((256, 128), bool)
    person[150:250, 40:80] = True  # a small person low in the crop
    assert pose.mask_roi(person, 1.25) == (60.0, 200.0, 125.0)
    assert pose.mask_roi(np.zeros((8, 8), bool)) is None


def test_a_missing_model_is_reported_in_one_sentence(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="install mediapipe==0.10.21"):
        pose.model_path()


def test_heatmap_refinement_moves_a_landmark_to_the_heatmap_peak():
    heat = np.full((64, 64, 39), -10.0, np.float32)
    heat[20, 30, 0] = 10.0  # a sharp peak for landmark 0 at cell (row 20, col 30)
    xy = np.zeros((39, 2))
    xy[0] = (29 * 4 + 1, 21 * 4 + 1)  # one cell off, inside the 7 x 7 window
    xy[1] = (29 * 4 + 1, 21 * 4 + 1)  # its heatmap is flat and low: kept
    xy[2] = (-50, 10)  # outside: kept
    out = pose.refine_with_heatmaps(xy, heat)
    assert np.allclose(out[0], (30 * 4, 20 * 4), atol=0.2)
    assert np.allclose(out[1], xy[1]) and np.allclose(out[2], xy[2])


# ------------------------------------------------------------------------------------------------
# Bars and wide frames (no model)
# ------------------------------------------------------------------------------------------------


def _crop(name: str = "query/028_2_c2_002001.png") -> np.ndarray:
    with Image.open(shared_dataset("ltcc-mini") / name) as im:
        return np.asarray(im.convert("RGB"))


def _jpeg(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_content_box_finds_black_and_replicated_bars_on_a_real_crop():
    import cv2

    crop = _crop()
    assert framing.content_box(crop) == (0, 256, 0, 128)
    black = np.zeros((256, 256, 3), np.uint8)
    black[:, 64:192] = crop
    top, bottom, left, right = framing.content_box(_jpeg(black))
    assert (top, bottom) == (0, 256) and abs(left - 64) <= 3 and abs(right - 192) <= 3
    edge = cv2.copyMakeBorder(crop, 20, 0, 40, 40, cv2.BORDER_REPLICATE)
    # Replicated bars end on the picture's own edge line, which repeats them: +-1 line.
    assert np.abs(np.subtract(framing.content_box(edge), (20, 276, 40, 168))).max() <= 1
    flat = np.full((64, 32, 3), 90, np.uint8)
    assert framing.content_box(flat) == (0, 64, 0, 32)


def test_crop_regions_cover_wide_frames_with_person_sized_squares():
    assert framing.crop_regions(256, 128, 1.5) == [(64.0, 128.0, 384.0)]
    regions = framing.crop_regions(100, 300, 1.5)
    assert len(regions) == 5
    assert all(side == 150.0 and cy == 50.0 for _, cy, side in regions)
    xs = [cx for cx, _, _ in regions]
    assert xs[0] == 50.0 and xs[-1] == 250.0 and np.allclose(np.diff(xs), 50.0)
    assert len(framing.crop_regions(20, 600)) == 5  # a strip: bounded cost
    with pytest.raises(ValueError):
        framing.crop_regions(0, 10)


# ------------------------------------------------------------------------------------------------
# Silhouettes (no model)
# ------------------------------------------------------------------------------------------------


def standing_silhouette(h: int = 256, w: int = 128) -> np.ndarray:
    """A standing figure: round head, trunk with arms beside it, two legs."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    cx = w / 2
    m = np.hypot(xs - cx, ys - 0.1 * h) < 0.06 * h  # head
    m |= (np.abs(xs - cx) < 0.03 * h) & (ys > 0.14 * h) & (ys < 0.2 * h)  # neck
    m |= (np.abs(xs - cx) < 0.1 * h) & (ys >= 0.18 * h) & (ys < 0.52 * h)  # trunk
    m |= (np.abs(np.abs(xs - cx) - 0.13 * h) < 0.025 * h) & (ys >= 0.2 * h) & (ys < 0.5 * h)  # arms
    m |= (np.abs(np.abs(xs - cx) - 0.045 * h) < 0.04 * h) & (ys >= 0.5 * h) & (ys < 0.97 * h)  # legs
    return m


def test_silhouette_check_accepts_a_standing_figure_and_rejects_blobs():
    person = standing_silhouette()
    assert silhouette.silhouette_check(person) is None
    h, w = person.shape
    assert silhouette.silhouette_check(np.zeros((h, w), bool)) == "silhouette too small"
    assert silhouette.silhouette_check(np.ones((h, w), bool)) == "silhouette fills the image"
    wide = np.zeros((h, w), bool)
    wide[150:230, 5:123] = True  # a car-like box: wider than tall
    assert silhouette.silhouette_check(wide) is not None
    column = np.zeros((h, w), bool)
    column[20:240, 40:88] = True  # a pole: no head narrower than the trunk
    assert silhouette.silhouette_check(column) == "silhouette has no head"
    assert silhouette.silhouette_check(person[::-1]) is not None  # upside down: the "head" is wide
    shifted = np.zeros((h, w), bool)
    shifted[:, :70] = person[:, 34:104]  # the figure's centre 30 px (a quarter of the width) left
    assert silhouette.silhouette_check(shifted) is None
    assert silhouette.silhouette_check(shifted, max_offcentre=0.2) == "silhouette off-centre"


def test_silhouette_parts_follow_body_proportions():
    person = standing_silhouette()
    parts = silhouette.silhouette_parts(person)
    assert parts.dtype == np.uint8 and parts.shape == person.shape
    assert not parts[~person].any() and parts[person].all()
    assert set(np.unique(parts)) == set(range(7))
    mean_y = [np.nonzero(parts == k)[0].mean() for k in range(1, 7)]
    assert mean_y[0] < mean_y[1] < mean_y[4] < mean_y[5]  # head, torso, thighs, shins
    assert mean_y[2] < mean_y[3]  # upper arms above lower arms
    cx = person.shape[1] / 2
    arm_x = np.nonzero(np.isin(parts, (3, 4)))[1] + 0.5
    assert np.abs(arm_x - cx).min() > 0.1 * person.shape[0]  # the arms are beside the trunk
    with pytest.raises(ValueError):
        silhouette.silhouette_parts(person, bands={"head": 0.6})


def test_boundary_contrast_tells_an_outline_on_edges_from_one_on_nothing():
    person = standing_silhouette()
    drawn = np.where(person, 200.0, 60.0).astype(np.float32)  # the figure is in the image
    flat = np.tile(np.linspace(0, 255, 128, dtype=np.float32), (256, 1))  # a gradient, no figure
    on = silhouette.boundary_contrast(silhouette.gradient_magnitude(drawn), person)
    off = silhouette.boundary_contrast(silhouette.gradient_magnitude(flat), person)
    assert on > 3.0 and 0.5 < off < 1.1


def test_colour_overlap_tells_a_figure_from_a_texture():
    person = standing_silhouette()
    figure = np.where(person[..., None], np.uint8([200, 40, 40]), np.uint8([60, 90, 60]))
    assert silhouette.colour_overlap(figure, person) == 0.0
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (256, 128, 3), dtype=np.uint8)  # the same on both sides
    assert silhouette.colour_overlap(texture, person) > 0.9
    assert silhouette.colour_overlap(texture, np.zeros((256, 128), bool)) == 1.0


# ------------------------------------------------------------------------------------------------
# The parser on real crops
# ------------------------------------------------------------------------------------------------


def _files() -> list[Path]:
    files = sorted((shared_dataset("prcc-mini") / "rgb").rglob("*.jpg"))[::16]  # 30
    files += sorted(shared_dataset("ltcc-mini").rglob("*.png"))[::16]  # 26
    files += sorted(shared_dataset("market1501-mini").rglob("*.jpg"))[::4]  # 24, 64 x 128
    files += sorted(shared_dataset("mars-mini").rglob("*.jpg"))[::200]  # 28
    return files


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _mean_y(parts: np.ndarray, labels) -> float:
    return float(np.nonzero(np.isin(parts, labels))[0].mean())


@pytest.fixture(scope="module")
def parser():
    p = make_parser("mediapipe")
    yield p
    p.close()


@pytest.fixture(scope="module")
def real_results(parser):
    return [(f, im, parser.parse(im)) for f in _files() for im in [_load(f)]]


def test_the_default_parser_is_the_direct_one(parser):
    assert parser.name == "mediapipe" and type(parser).__name__ == "DirectParser"
    # Positional construction still works, the new fields default to "unknown".
    r = ParseResult(None, "no person")
    assert r.source == "" and r.score is None


def test_nearly_every_real_person_is_found(real_results):
    found = [r.parts is not None for _, _, r in real_results]
    # Measured on this sample: 108 of 108 (on 300 crops per set: 98.3-100 %); a margin is left.
    assert np.mean(found) >= 0.95, f"found {sum(found)} of {len(found)}"
    for _, _, r in real_results:
        assert (r.parts is None) == bool(r.reason)
        assert r.score is not None and 0.0 <= r.score <= 1.0
        assert r.source in (("pose", "silhouette") if r.parts is not None else ("",))


def test_real_maps_have_the_image_size_labels_and_body_order(real_results):
    ordered = 0
    for f, im, r in real_results:
        if r.parts is None:
            continue
        assert r.parts.shape == im.shape[:2] and r.parts.dtype == np.uint8 and r.parts.max() <= 6, f
        assert (r.parts == 1).any() and (r.parts == 2).any(), f"no head or torso in {f}"
        if np.isin(r.parts, (5, 6)).any():
            ordered += _mean_y(r.parts, 1) < _mean_y(r.parts, 2) < _mean_y(r.parts, (5, 6))
    assert ordered >= 0.95 * sum(r.parts is not None for _, _, r in real_results)


def test_a_front_view_gets_every_part_in_place(parser):
    parts = parser.parse(_crop()).parts
    assert parts is not None and set(np.unique(parts)) == set(range(7))
    assert _mean_y(parts, 1) < _mean_y(parts, 2) < _mean_y(parts, 5) < _mean_y(parts, 6)
    assert _mean_y(parts, 1) < 64 and _mean_y(parts, 6) > 170


def test_padding_is_trimmed_and_the_map_stays_in_the_picture(parser):
    import cv2

    crop = _crop()
    ref = parser.parse(crop)
    black = np.zeros((256, 256, 3), np.uint8)
    black[:, 64:192] = crop
    replicated = cv2.copyMakeBorder(crop, 0, 0, 48, 48, cv2.BORDER_REPLICATE)
    for padded, (left, right) in ((_jpeg(black), (64, 192)), (replicated, (48, 176))):
        before = parser.stats["trimmed"]
        r = parser.parse(padded)
        assert parser.stats["trimmed"] == before + 1
        assert r.parts is not None and r.parts.shape == padded.shape[:2]
        assert not r.parts[:, : left - 3].any() and not r.parts[:, right + 3 :].any()
        inner = r.parts[:, left:right]
        assert (inner == ref.parts).mean() > 0.9
    # Without trimming, the black bars shrink the person and the map changes.
    untrimmed = make_parser("mediapipe", trim=False)
    try:
        r = untrimmed.parse(_jpeg(black))
        assert r.parts is None or (r.parts[:, 64:192] == ref.parts).mean() < (inner == ref.parts).mean()
    finally:
        untrimmed.close()


@pytest.mark.parametrize("size", [(24, 48), (32, 64), (48, 96)])
def test_tiny_crops_are_upscaled_and_parsed(parser, size):
    crop = _crop()
    ref = parser.parse(crop).parts
    tiny = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
    r = parser.parse(tiny)
    assert r.parts is not None and r.parts.shape == tiny.shape[:2], size
    back = np.asarray(Image.fromarray(r.parts).resize((128, 256), Image.NEAREST))
    assert (back == ref).mean() > 0.8


def test_a_person_in_a_wide_frame_is_found_where_they_stand(parser):
    crop = _crop()
    frame = np.zeros((256, 640, 3), np.uint8)
    # A wide street: the crop's own background columns stretched, the person placed right of centre.
    background = np.asarray(Image.fromarray(crop[:, :12]).resize((640, 256), Image.BILINEAR))
    frame[:] = background
    frame[:, 400:528] = crop
    r = parser.parse(frame)
    assert r.parts is not None and r.parts.shape == (256, 640)
    xs = np.nonzero(r.parts)[1]
    assert np.mean((xs >= 392) & (xs < 536)) > 0.9
    # Letterboxed whole, the person is a third as tall in the model's input: the windows help.
    assert (r.parts[:, 400:528] > 0).sum() > 0.5 * (parser.parse(crop).parts > 0).sum()


def test_later_passes_find_a_small_person_low_in_the_crop(parser):
    # MARS boxes often hold a small person low in the crop: the region derived from the first
    # pass's landmarks, or from its person mask, frames them; the first pass alone misses them.
    crop = Image.fromarray(_crop())
    background = np.asarray(crop.filter(ImageFilter.GaussianBlur(30)))
    single = make_parser("mediapipe", refine=False, silhouette_fallback=False, tight_scale=None,
                         min_detector_score=0.0)  # one pass, without the person detector's pass
    found = found_single = 0
    try:
        for frac, x in ((0.3, 10), (0.3, 40), (0.35, 10), (0.35, 70), (0.4, 10), (0.4, 70)):
            w, h = int(128 * frac), int(256 * frac)
            im = background.copy()
            y = 256 - h - 4
            im[y : y + h, x : x + w] = np.asarray(crop.resize((w, h), Image.BILINEAR))
            r = parser.parse(im)
            if r.parts is not None:
                ys, xs = np.nonzero(r.parts)
                found += np.mean((ys >= y - 4) & (xs >= x - 4) & (xs < x + w + 4)) > 0.9
            found_single += single.parse(im).parts is not None
    finally:
        single.close()
    assert found >= 5 and found_single <= 2, (found, found_single)


def test_the_silhouette_fallback_parses_a_real_crop_from_its_outline():
    # With every skeleton refused (it would have to span 10 image heights), only the silhouette
    # can make a map.
    never = {"min_span": 10.0}
    p = make_parser("mediapipe", gate=never, refine=False)
    try:
        files = _files()[::6]
        results = [p.parse(_load(f)) for f in files]
    finally:
        p.close()
    made = [r for r in results if r.parts is not None]
    assert all(r.source == "silhouette" for r in made)
    assert len(made) >= 0.5 * len(results), f"{len(made)} of {len(results)}"
    for r in made:
        assert _mean_y(r.parts, 1) < _mean_y(r.parts, 2) < _mean_y(r.parts, (5, 6))
    # And without the fallback those crops have no person.
    q = make_parser("mediapipe", gate=never, refine=False, silhouette_fallback=False)
    try:
        assert all(q.parse(_load(f)).parts is None for f in files[:4])
    finally:
        q.close()


def _wall(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:h, 0:w]
    im = np.full((h, w, 3), (160, 90, 70), np.float64)
    im[(ys % 14 < 2) | (((xs + (ys // 14 % 2) * 16) % 32) < 2)] = (110, 110, 110)
    return np.clip(im + rng.normal(0, 6, im.shape), 0, 255).astype(np.uint8)


def test_non_person_images_are_rejected(parser):
    crop = _crop()
    blurred = np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(24)))
    sky = np.broadcast_to(np.linspace(80, 230, 256)[:, None, None], (256, 128, 3)).astype(np.uint8)
    rng = np.random.default_rng(0)
    for name, im in (
        ("a real crop blurred to an empty scene", blurred),
        ("a brick wall", _wall(256, 128)),
        ("a brick wall, 64 x 128", _wall(128, 64)),
        ("a sky gradient", sky),
        ("black", np.zeros((256, 128, 3), np.uint8)),
        ("noise", rng.integers(0, 256, (128, 64, 3), dtype=np.uint8)),
    ):
        r = parser.parse(im)
        assert r.parts is None and r.reason, name


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (7, 5, 3), (16, 16, 3), (16, 32, 3), (600, 20, 3), (20, 600, 3), (20, 20)]
)
def test_any_size_does_not_crash(parser, shape):
    im = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    r = parser.parse(im)
    assert r.parts is None or r.parts.shape == shape[:2]


def test_large_images_are_parsed_at_bounded_cost_with_the_same_parts(parser):
    crop = _crop()
    ref = parser.parse(crop).parts
    big = np.asarray(Image.fromarray(crop).resize((512, 1024), Image.BILINEAR))
    r = parser.parse(big)
    assert r.parts is not None and r.parts.shape == (1024, 512)
    back = np.asarray(Image.fromarray(r.parts).resize((128, 256), Image.NEAREST))
    assert (back == ref).mean() > 0.9


def test_bad_inputs_and_options(parser):
    with pytest.raises(TypeError):
        parser.parse(np.zeros((64, 32, 3), np.float32))
    with pytest.raises(ValueError):
        parser.parse(np.zeros((64, 32, 2), np.uint8))
    with pytest.raises(ValueError):
        make_parser("mediapipe", scale=0.5)
    with pytest.raises(ValueError, match="unknown parser"):
        make_parser("nope")


def _digest(r: ParseResult) -> str:
    return "none:" + r.reason if r.parts is None else f"{r.source}:" + hashlib.sha1(r.parts.tobytes()).hexdigest()


def test_a_sure_person_in_grey_before_grey_is_parsed_and_the_colour_check_says_its_numbers(parser):
    # A man in a grey shirt, seen from behind on a grey path: every pass is sure of him (person
    # score 13-15, the doubt score 10), but his colours overlap his surroundings' by 0.89-0.90,
    # over max_colour_overlap (0.88), so the colour check used to refuse him.
    crop = _load(shared_dataset("market1501-mini") / "bounding_box_train" / "0012_c1s1_000701_01.jpg")
    r = parser.parse(crop)
    assert r.parts is not None and r.source == "pose", r.reason
    assert {1, 2, 5, 6} <= set(np.unique(r.parts).tolist())
    # Checked on every pass, the colour check refuses him, and its reason gives its numbers.
    strict = make_parser("mediapipe", doubt_score=100.0, min_detector_score=0.0)
    try:
        refused = strict.parse(crop)
    finally:
        strict.close()
    assert refused.parts is None
    assert re.search(r"^no person: person mask like its surroundings \(colour overlap 0\.\d\d > 0\.88, "
                     r"person score \d+\.\d\d\)$", refused.reason), refused.reason


def test_parse_batch_and_order_do_not_change_a_map(parser, real_results):
    files = [f for f, _, _ in real_results][::9]
    ims = [_load(f) for f in files]
    first = [_digest(r) for r in parser.parse_batch(ims)]
    assert [_digest(parser.parse(im)) for im in ims[::-1]][::-1] == first
    by_file = {f: _digest(r) for f, _, r in real_results}
    assert [by_file[f] for f in files] == first


def test_parsing_is_deterministic_across_processes(parser, real_results):
    files = [f for f, _, _ in real_results][::15]
    here = [_digest(parser.parse(_load(f))) for f in files]
    code = (
        "import hashlib, json, sys\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from occreid.parser import make_parser\n"
        "p = make_parser('mediapipe')\n"
        "out = []\n"
        "for f in sys.argv[1:]:\n"
        "    r = p.parse(np.asarray(Image.open(f).convert('RGB')))\n"
        "    digest = None if r.parts is None else hashlib.sha1(r.parts.tobytes()).hexdigest()\n"
        "    out.append('none:' + r.reason if r.parts is None else r.source + ':' + digest)\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == here


def test_a_closed_parser_refuses_to_parse():
    p = make_parser("mediapipe")
    p.close()
    with pytest.raises(RuntimeError, match="closed"):
        p.parse(np.zeros((64, 32, 3), np.uint8))


def test_building_the_parser_does_not_import_mediapipe():
    code = (
        "import sys\n"
        "from occreid.parser import make_parser\n"
        "make_parser('mediapipe')\n"
        "print('mediapipe' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False"
