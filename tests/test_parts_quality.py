"""Where the embedded parser puts the parts, on real crops from ../shared/data: the crop's subject
keeps the map when a passer-by is at the edge, arms in front of the body are arms, pictures too
small for a person and background are refused, and every no_person reason carries its numbers.

The figures against third-party annotations are ``benchmarks/bench_parts.py``'s (docs/part-quality.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid.parser import make_parser, pose_geometry, subject


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _market(name: str) -> np.ndarray:
    hits = sorted(shared_dataset("market1501-mini").rglob(name))
    if not hits:
        pytest.skip(f"{name} is not in market1501-mini")
    return _load(hits[0])


@pytest.fixture(scope="module")
def parser():
    p = make_parser("mediapipe")
    yield p
    p.close()


def _share_in(parts: np.ndarray, x0: int, x1: int) -> float:
    cols = (parts > 0).sum(axis=0)
    return float(cols[x0:x1].sum() / max(1, cols.sum()))


def test_a_passer_by_at_the_edge_does_not_take_the_map(parser):
    # A re-ID box around one person, with most of a passer-by at its left edge: real pixels of two
    # Market-1501 people, the subject in the middle (the box's right part mirrors their background).
    subj, other = _market("0012_c1s1_000701_01.jpg"), _market("0027_c1s4_033481_01.jpg")
    canvas = np.ascontiguousarray(np.concatenate([other[:, 8:], subj, subj[:, :-9:-1]], axis=1))
    assert canvas.shape == (128, 128, 3)
    # The tight first pass (at 1.25) mixes the two (its map reaches onto the passer-by and its
    # heatmaps show two people), so the passes at 1.5 and the subject pass decide.
    assert _share_in(parser.parse(canvas).parts, 56, 120) >= 0.9
    wide = make_parser("mediapipe", tight_scale=None)
    before = wide.stats["subject_pass"]
    r = wide.parse(canvas)
    wide.close()
    assert r.parts is not None and r.source == "pose"
    assert wide.stats["subject_pass"] > before  # the first skeleton was the passer-by's
    assert _share_in(r.parts, 56, 120) >= 0.9  # the map is on the subject
    # Without the subject pass the same crop's map lies on the passer-by: what the test guards.
    off = make_parser("mediapipe", max_offset=0.5, tight_scale=None)
    try:
        assert _share_in(off.parse(canvas).parts, 56, 120) < 0.5
    finally:
        off.close()


def test_centre_offset_and_hiding_a_person():
    lm = np.zeros((33, 3))
    lm[[11, 12, 23, 24], 0] = (20, 30, 22, 28)
    lm[:11, 1], lm[27:31, 1] = 10, 110
    assert subject.centre_offset(lm, 100) == pytest.approx(0.25)
    assert subject.body_height(lm) == pytest.approx(100)
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :] = (0, 128, 0)
    rgb[10:30, 10:20] = (255, 0, 0)  # the person to hide
    parts = np.zeros((40, 40), np.uint8)
    parts[10:30, 10:20] = 2
    hidden = subject.hide(rgb, parts, grow=1)
    assert np.abs(hidden[15:25, 12:18].astype(int) - (0, 128, 0)).max() < 40  # filled from around


def test_an_arm_in_front_of_the_torso_is_arm():
    # A front view whose left forearm crosses the belly: the torso quadrilateral holds it, the arm
    # is nearer in front.
    lm = np.zeros((33, 3))
    lm[:, 2] = 1.0
    pts = {0: (50, 20), 7: (56, 20), 8: (44, 20), 11: (62, 40), 12: (38, 40), 13: (66, 70), 14: (30, 66),
           15: (45, 78), 16: (28, 92), 17: (42, 80), 19: (42, 82), 23: (58, 100), 24: (42, 100),
           25: (58, 140), 26: (42, 140), 27: (58, 180), 28: (42, 180), 29: (58, 184), 30: (42, 184),
           31: (60, 188), 32: (40, 188)}
    for i, (x, y) in pts.items():
        lm[i, :2] = (x, y)
    for i in range(1, 11):
        lm[i, :2] = (50, 20)
    mask = np.zeros((200, 100), np.float32)
    mask[5:195, 20:80] = 1.0
    parts = pose_geometry.part_map(lm, mask)
    assert parts[78, 50] == pose_geometry.LOWER_ARMS  # on the forearm, inside the torso's outline
    assert parts[60, 50] == pose_geometry.TORSO
    old = pose_geometry.part_map(lm, mask, arms_in_front=False)
    assert old[78, 50] == pose_geometry.TORSO


def test_the_lower_arm_runs_through_the_hand():
    lm = np.zeros((33, 3))
    lm[:, 2] = 1.0
    for i in range(11):
        lm[i, :2] = (50, 20)
    lm[[11, 12, 23, 24], :2] = [(62, 40), (38, 40), (58, 100), (42, 100)]
    lm[[13, 15], :2] = [(75, 70), (78, 100)]  # left elbow, wrist: the arm hangs
    lm[[17, 19], 2] = 0.0  # hand points unseen: the hand follows the forearm
    lm[[14, 16, 18, 20], :2] = [(25, 70), (22, 100), (22, 106), (22, 106)]
    lm[25:33, :2] = [(58, 140), (42, 140), (58, 180), (42, 180), (58, 184), (42, 184), (60, 188), (40, 188)]
    mask = np.zeros((200, 100), np.float32)
    mask[5:195, 10:90] = 1.0
    parts = pose_geometry.part_map(lm, mask)
    assert parts[110, 79] == pose_geometry.LOWER_ARMS  # 10 px past the wrist: the hand


def test_pictures_too_small_for_a_person_are_refused_with_their_size(parser):
    rng = np.random.default_rng(0)
    for _ in range(20):  # the model "finds" a person in most 16 x 16 noise images
        r = parser.parse(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        assert r.parts is None
    assert r.reason == "no person: image 16 x 16 px, a person needs 32 px of height and 8 of width"
    # A real person shrunk to 12 x 24 px is no longer one the parser can place parts on.
    small = np.asarray(Image.fromarray(_market("0012_c1s1_000701_01.jpg")).resize((12, 24)))
    assert parser.parse(small).parts is None


def test_background_beside_real_people_is_refused(parser):
    # The outer columns of real crops (the street, walls and floor beside the person), stretched
    # to a person crop's shape: no person there.
    files = sorted((shared_dataset("prcc-mini") / "rgb").rglob("*.jpg"))[::40]
    refused = 0
    for f in files:
        rgb = _load(f)
        w = rgb.shape[1]
        strip = np.ascontiguousarray(rgb[:, : w // 6])
        big = np.asarray(Image.fromarray(strip).resize((64, 128)))
        r = parser.parse(big)
        refused += r.parts is None
        if r.parts is None:
            assert re.search(r"\d", r.reason), r.reason
    assert refused >= 0.9 * len(files)


def test_no_person_reasons_carry_their_numbers(parser):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (128, 64, 3), dtype=np.uint8)
    r = parser.parse(noise)
    assert r.parts is None
    assert re.fullmatch(r"no person: (presence \d\.\d\d < 0\.20|person score -?\d+\.\d\d < \d\.\d\d .*)", r.reason)
    # Each of the skeleton checks names what failed and by how much.
    lm = np.zeros((33, 3))
    lm[:, 2] = 1.0
    lm[:11, :2] = (50, 20)
    lm[[11, 12], :2] = [(60, 40), (40, 40)]
    lm[[23, 24], :2] = [(58, 55), (42, 55)]
    lm[27:33, :2] = (50, 70)
    mask = np.zeros((256, 100), np.float32)
    mask[:, 5:95] = 1.0
    reason = pose_geometry.sanity_check(lm, mask, 256, 100)
    assert reason == "person too small"
    assert pose_geometry.describe(reason, lm, mask) == (
        "person too small (torso 15 px, head to ankles 50 px in a 256 px high crop)")
    off = np.zeros((256, 100), np.float32)
    off[:, :30] = 1.0
    lm[:, 1] *= 3  # tall enough now, but the person mask lies beside the skeleton
    reason = pose_geometry.sanity_check(lm, off, 256, 100)
    assert pose_geometry.describe(reason, lm, off) == (
        "skeleton off the person mask (only 0 % of the shoulder-to-hip line on it)")

