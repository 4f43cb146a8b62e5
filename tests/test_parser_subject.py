"""Whether the embedded parser saw a person, and whose map it made: the evidence measures
(``parser.evidence``: person score, heatmap spread, mask confidence), the picture's image cues,
the mask region, and their gates on real crops from ../shared/data (a passer-by's crop, a
silhouette crop, the no_person reasons they give).

The calibration figures are ``benchmarks/bench_parts.py``'s (docs/part-quality.md).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid.parser import evidence, framing, make_parser, silhouette, subject
from occreid.parser.quality import consistency


def _market(name: str) -> np.ndarray:
    hits = sorted(shared_dataset("market1501-mini").rglob(name))
    if not hits:
        pytest.skip(f"{name} is not in market1501-mini")
    with Image.open(hits[0]) as im:
        return np.asarray(im.convert("RGB"))


def _blobs(spread_px: float, n: int = 39, centre: tuple[int, int] = (32, 20)) -> np.ndarray:
    """64 x 64 x n heatmap logits: a Gaussian blob of ``spread_px`` cells at ``centre`` for every
    landmark (peak probability 0.9, far cells near 0)."""
    yy, xx = np.mgrid[0:64, 0:64]
    d2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    p = 0.9 * np.exp(-d2 / (2.0 * spread_px**2)) + 1e-6
    logits = np.log(p / (1 - p)).astype(np.float32)
    return np.repeat(logits[:, :, None], n, axis=2)


def _spread_by_definition(heatmaps: np.ndarray) -> float:
    prob = 1.0 / (1.0 + np.exp(-heatmaps.astype(np.float64)))
    yy, xx = np.mgrid[0:64, 0:64]
    out = []
    for i in range(11, 33):
        h = prob[:, :, i]
        r, c = np.unravel_index(np.argmax(h), h.shape)
        out.append(np.sqrt((h * ((yy - r) ** 2 + (xx - c) ** 2)).sum() / h.sum()))
    return float(np.median(out))


# ------------------------------------------------------------------------------------------------
# The evidence measures (no model)
# ------------------------------------------------------------------------------------------------


def test_heatmap_spread_is_small_for_a_located_landmark_and_large_for_a_smeared_one():
    spreads = [evidence.heatmap_spread(_blobs(s)) for s in (1.5, 3.0, 6.0, 12.0)]
    assert spreads == sorted(spreads) and spreads[0] < 4.0 and spreads[-1] > 12.0
    sharp = spreads[0]
    # the marginal form equals the definition (rms distance of the mass from the peak cell)
    rng = np.random.default_rng(3)
    noisy = (rng.standard_normal((64, 64, 39)) * 3 - 2).astype(np.float32)
    for hm in (_blobs(3.0), _blobs(9.0, centre=(5, 60)), noisy):
        assert evidence.heatmap_spread(hm) == pytest.approx(_spread_by_definition(hm), rel=1e-4)
    # only the body landmarks (11-32) count: a smeared face does not move it
    face_smeared = _blobs(1.5)
    face_smeared[:, :, :11] = _blobs(12.0, n=11)
    assert evidence.heatmap_spread(face_smeared) == pytest.approx(sharp)


def test_mask_confidence_is_how_sure_the_segmentation_is_of_its_pixels():
    certain = np.full((40, 20), -20.0, np.float32)
    certain[10:30, 5:15] = 20.0
    assert evidence.mask_confidence(certain) == pytest.approx(1.0, abs=1e-6)
    hovering = np.where(certain > 0, 0.2, -20.0).astype(np.float32)  # p = 0.55 inside
    assert evidence.mask_confidence(hovering) == pytest.approx(abs(np.tanh(0.1)), rel=1e-5)
    assert evidence.mask_confidence(np.full((8, 8), -5.0, np.float32)) == 0.0
    # the threshold is a logit: pixels at or under it are not the mask's
    assert evidence.mask_confidence(certain, cut=25.0) == 0.0


def test_person_score_adds_located_peaks_and_takes_off_overclaimed_limbs():
    peaks, visible = np.full(39, 0.6), np.full(39, 0.6)
    base = evidence.person_score(0.5, None, visible)
    assert base == pytest.approx(0.0)  # logit(0.5) alone without peaks
    assert evidence.person_score(0.5, peaks, visible) == pytest.approx(10 * 0.6)
    claimed = visible.copy()
    claimed[11:33] = 0.9  # limbs called visible, located no better
    assert evidence.person_score(0.5, peaks, claimed) == pytest.approx(6.0 - 4 * 0.3)
    assert evidence.person_score(0.999, peaks, visible) > evidence.person_score(0.6, peaks, visible)


def test_picture_cues_match_the_module_functions_at_any_mask_size():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 60, (64, 32, 3), dtype=np.uint8)
    rgb[16:48, 8:24] = 220  # a bright figure on a dark ground
    person = np.zeros((64, 32), bool)
    person[16:48, 8:24] = True
    cues = silhouette.PictureCues(rgb)
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert cues.contrast(person) == pytest.approx(
        silhouette.boundary_contrast(silhouette.gradient_magnitude(grey), person), rel=0.02)
    assert cues.colour_overlap(person) == silhouette.colour_overlap(rgb, person)
    half = person[::2, ::2]  # a mask at half the picture's size
    assert cues.contrast(half) > 1.5 and cues.colour_overlap(half) < 0.2


def test_the_mask_region_frames_the_mask_box_in_image_pixels():
    person = np.zeros((100, 50), bool)  # the mask at half the image's size
    person[40:80, 10:30] = True
    cx, cy, side = framing.mask_region(person, (200, 100), 1.25, max_side=1000)
    assert (cx, cy, side) == pytest.approx((40.0, 120.0, 100.0))
    assert framing.mask_region(person, (200, 100), 1.25, max_side=90) is None  # no tighter
    assert framing.mask_region(np.zeros((10, 10), bool), (10, 10), 1.25, 100) is None
    tiny = np.zeros((400, 400), bool)
    tiny[0, 0] = True
    assert framing.mask_region(tiny, (400, 400), 1.25, 1000) is None  # under 5 % of the side


def test_rival_peaks_count_the_landmarks_seen_twice():
    one = _blobs(2.0)
    assert subject.rival_peaks(one) == 0
    two = np.logaddexp(_blobs(2.0), _blobs(2.0, centre=(32, 44))).astype(np.float32)  # a second person
    assert subject.rival_peaks(two) == 39
    close = np.logaddexp(_blobs(2.0), _blobs(2.0, centre=(32, 24))).astype(np.float32)  # 4 cells: one blob
    assert subject.rival_peaks(close) == 0
    faint = _blobs(2.0).copy()
    faint[:, :, :10] = np.logaddexp(faint[:, :, :10], _blobs(2.0, n=10, centre=(10, 50)) - 4.0)
    assert subject.rival_peaks(faint) == 0  # a rival under half the peak is no second person


def test_landmarks_scaled_to_the_mask_and_maps_placed_back_in_the_image():
    lm = np.array([[10.0, 20.0, 0.9], [0.0, 0.0, 0.1]])
    assert np.allclose(subject.scaled(lm, (50, 25), (200, 100)), [[2.5, 5.0, 0.9], [0.0, 0.0, 0.1]])
    assert lm[0, 0] == 10.0  # a copy
    parts = np.zeros((10, 5), np.uint8)
    parts[2:8, 1:4] = 2
    full = framing.place(parts, (5, 25, 10, 20), (30, 40))  # the picture between bars, at twice the map's size
    assert full.shape == (30, 40) and full[:5].max() == 0 and full[:, :10].max() == 0
    assert set(np.unique(full[5:25, 10:20])) == {0, 2} and (full == 2).sum() == 6 * 3 * 4
    assert framing.place(parts, (0, 10, 0, 5), (10, 5)) is parts


# ------------------------------------------------------------------------------------------------
# The gates on real crops
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parser():
    p = make_parser("mediapipe")
    yield p
    p.close()


def test_a_skeleton_mixed_across_two_people_is_refused_by_its_heatmap_spread(parser):
    # A box around one person with a passer-by at its left edge (real Market-1501 pixels): framed
    # tight, the model mixes the two (upper body on the subject, legs on the passer-by) and its
    # body landmarks' heatmaps spread over both; refused, the wider passes find the subject.
    subj, other = _market("0012_c1s1_000701_01.jpg"), _market("0027_c1s4_033481_01.jpg")
    canvas = np.ascontiguousarray(np.concatenate([other[:, 8:], subj, subj[:, :-9:-1]], axis=1))
    h, w = canvas.shape[:2]
    tight = parser._framed(canvas, parser.tight_scale, (h, w))
    spread = evidence.heatmap_spread(tight.heatmaps)
    assert spread > parser.max_spread
    _, reason = parser._judge(tight, canvas, parser.tight_min_score)
    assert re.fullmatch(r"no person: landmarks not located \(heatmap spread [\d.]+ > [\d.]+ cells, "
                        r"person score -?[\d.]+\)", reason)
    cols = (parser.parse(canvas).parts > 0).sum(axis=0)
    assert cols[56:120].sum() >= 0.9 * cols.sum()  # the map is on the subject


def test_clear_people_are_not_refused_by_the_new_gates(parser):
    for name in ("0004_c1s6_016996_02.jpg", "0013_c5s1_000426_01.jpg", "0027_c1s4_033481_01.jpg"):
        rgb = _market(name)
        h, w = rgb.shape[:2]
        out = parser._framed(rgb, parser.tight_scale, (h, w))
        assert evidence.heatmap_spread(out.heatmaps) < parser.max_spread
        assert evidence.mask_confidence(out.mask_logits) > 0.8
        assert parser.parse(rgb).source == "pose"


def test_the_silhouette_fallback_needs_a_confident_mask(parser):
    # A Market-1501 crop the landmarks miss (person score 1.65) but whose mask is a confident
    # standing silhouette (confidence 0.90): parsed from the silhouette, refused when the
    # fallback asks for more certainty than its mask has.
    rgb = _market("0037_c2s1_003301_01.jpg")
    r = parser.parse(rgb)
    assert r.parts is not None and r.source == "silhouette"
    strict = make_parser("mediapipe", min_silhouette_confidence=0.95)
    try:
        refused = strict.parse(rgb)
    finally:
        strict.close()
    assert refused.parts is None and re.search(r"\d", refused.reason)


def test_a_doubtful_tight_pass_is_checked_against_a_closer_framing():
    # Forced doubt (any score, any rival count): the closer framing runs once per crop and is
    # kept only when surer; off (close_scale None), it never runs. Same maps every time.
    rgb = _market("0004_c1s6_016996_02.jpg")
    doubting = make_parser("mediapipe", min_rivals=0, doubt_score=1e9)
    plain = make_parser("mediapipe", close_scale=None, min_rivals=0, doubt_score=1e9)
    try:
        first, again = doubting.parse(rgb), doubting.parse(rgb)
        assert doubting.stats["close_pass"] == 2 and first.parts is not None
        assert np.array_equal(first.parts, again.parts)
        base = plain.parse(rgb)
        assert plain.stats["close_pass"] == 0 and base.parts is not None
    finally:
        doubting.close()
        plain.close()


def test_bottom_regions_rest_on_the_bottom_edge_centred():
    regions = framing.bottom_regions(256, 128, (0.8, 0.65), 1.0)
    for (cx, cy, side), f in zip(regions, (0.8, 0.65)):
        assert cx == 64.0 and side == pytest.approx(f * 256)
        assert cy + side / 2 == pytest.approx(256.0)  # scale 1: the region ends on the bottom edge
        assert cy - side / 2 == pytest.approx((1 - f) * 256)  # and leaves the top 1 - f above it
    (cx, cy, side), = framing.bottom_regions(200, 100, (0.5,), 1.25)
    assert (cx, cy, side) == pytest.approx((50.0, 150.0, 125.0))  # the same centre, framed 1.25 x


def test_a_skeleton_mixing_two_people_gives_way_to_the_person_on_the_bottom_edge():
    # A prcc crop: a man in a striped shirt in the lower half, a woman under an umbrella beside
    # and behind him. The usual passes draw one skeleton over both (part quality 0.21; its limbs
    # are not attached, its sides not alike); framed on the crop's lower part, the pose model
    # sees the man alone, and his map is whole (part quality 0.99).
    path = shared_dataset("prcc-mini") / "rgb" / "test" / "C" / "034" / "cropped_rgb004.jpg"
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    with_bottom, without = make_parser("mediapipe"), make_parser("mediapipe", bottom_fractions=())
    try:
        mixed = without.parse(rgb)
        assert without.stats["bottom_pass"] == 0
        assert mixed.parts is not None and mixed.quality is not None and mixed.quality < 0.3
        assert not all(consistency(mixed.parts).values())
        found = with_bottom.parse(rgb)
        assert with_bottom.stats["bottom_pass"] == 2  # both framings tried, the better map kept
        assert found.parts is not None and found.quality is not None and found.quality >= 0.5
        assert all(consistency(found.parts).values())
        assert found.parts.shape == rgb.shape[:2]
        # A clear single person (part quality over 0.3) is left as it is: no bottom pass.
        clear = _market("0004_c1s6_016996_02.jpg")
        before = with_bottom.stats["bottom_pass"]
        assert np.array_equal(with_bottom.parse(clear).parts, without.parse(clear).parts)
        assert with_bottom.stats["bottom_pass"] == before
    finally:
        with_bottom.close()
        without.close()
