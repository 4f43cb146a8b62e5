"""The person detector's second opinion (``parser/detector.py``, ``parser/judging.py``).

Pure parts first (anchors, framings, the region a detection gives), then the detector and the
parser on real crops from ../shared/data: a borderline map needs the detector to see a person,
a confident map is left alone, a missing model is one sentence before the first image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, ImageFilter

from occreid.parser import ParserError, build_parser, detector, make_parser


def _crops(name: str, n: int) -> list[np.ndarray]:
    root = shared_dataset(name)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    step = max(1, len(files) // n)
    out = []
    for f in files[::step][:n]:
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


# ------------------------------------------------------------------------------------------------
# Pure parts (no model)
# ------------------------------------------------------------------------------------------------


def test_anchors_cover_the_input_in_the_models_order():
    c = detector.anchor_centres()
    assert c.shape == (detector.NUM_ANCHORS, 2)
    # The first grid: 28 x 28 cells of 8 px, two anchors each, row by row.
    assert np.allclose(c[:4], [[4, 4], [4, 4], [12, 4], [12, 4]])
    assert np.allclose(c[-1], [224 - 16, 224 - 16])  # the last 7 x 7 grid's last cell
    assert c.min() > 0 and c.max() < detector.INPUT_SIZE


def test_framing_centres_the_picture_and_maps_back():
    rgb = np.zeros((256, 128, 3), np.uint8)
    rgb[100:156, 40:88] = 255  # a bright block at the picture's centre
    for scale in (None, 1.5, 2.5):
        m = detector.framing_matrix(256, 128, scale)
        assert np.allclose(m @ [64, 128, 1], [112, 112])  # the picture's centre is the input's
        x = detector.framed(rgb, scale)
        assert x.shape == (224, 224, 3) and x.dtype == np.float32
        assert -1.0 <= x.min() and x.max() <= 1.0
        assert x[112, 112].min() > 0.9  # the block, at the centre
    # Fitted whole, the bars beside a tall picture are mid-grey (0); in a wider framing the
    # picture's edge pixels are replicated (black here).
    assert abs(float(detector.framed(rgb, None)[112, 5, 0])) < 0.01
    assert float(detector.framed(rgb, 2.5)[112, 5, 0]) == -1.0


def test_body_roi_is_mediapipes_region_around_the_hips():
    points = np.array([[50.0, 120.0], [50.0, 40.0], [50.0, 80.0], [50.0, 60.0]])
    cx, cy, side = detector.body_roi(points)
    assert (cx, cy) == (50.0, 120.0) and side == pytest.approx(2 * 1.25 * 80.0)


# ------------------------------------------------------------------------------------------------
# The detector and the parser on real crops
# ------------------------------------------------------------------------------------------------


def test_the_detector_sees_people_and_not_a_flat_picture():
    d = detector.PersonDetector()
    people = _crops("market1501-mini", 12)
    seen = [d.best_score(im) for im in people]
    flat = np.full((256, 128, 3), 120, np.uint8)
    assert np.median(seen) > 0.5
    assert d.best_score(flat) < 0.3 < np.median(seen)
    # A detection's region lies on the person: its hip centre inside the crop.
    score, points = d.detect(people[0])
    h, w = people[0].shape[:2]
    assert score > 0.3 and 0 <= points[0, 0] <= w and 0 <= points[0, 1] <= h
    d.close()
    with pytest.raises(RuntimeError):
        d.score(flat)


class _FakeDetector:
    """Says what it is told and counts how often it was asked."""

    def __init__(self, score: float) -> None:
        self.value, self.calls = score, 0

    def detect(self, rgb, scale=None):
        self.calls += 1
        return self.value, np.zeros((4, 2))  # a zero-sized region: no extra pass

    def best_score(self, rgb):
        self.calls += 1
        return self.value

    def close(self) -> None:
        pass


def test_a_borderline_map_needs_the_detector_and_a_confident_one_is_left_alone():
    p = make_parser("mediapipe")
    im = _crops("mars-mini", 1)[0]
    parts, reason, source, out = p._parse_picture(im)
    assert parts is not None and p.person_score(out) >= p.detector_band
    quality = p.quality(parts, out)
    assert quality >= p.min_quality
    # A confident map: the detector is not asked, the map and its quality are returned as they were.
    p._detector = _FakeDetector(0.0)
    got = p._ask_detector(im, parts, "", source, out)
    assert got[0] is parts and got[4] == quality and p._detector.calls == 0
    # The same map from the silhouette fallback is borderline: refused when the detector sees nobody ...
    got = p._ask_detector(im, parts, "", "silhouette", out)
    assert got[0] is None and got[1].startswith("no person: the person detector's score 0.00 < 0.30")
    # ... kept when it sees a person.
    p._detector = _FakeDetector(0.9)
    got = p._ask_detector(im, parts, "", "silhouette", out)
    assert got[0] is parts and got[2] == "silhouette"
    # A map under the person score band is borderline too.
    p.detector_band = p.person_score(out) + 1.0
    p._detector = _FakeDetector(0.1)
    assert p._ask_detector(im, parts, "", "pose", out)[0] is None
    p.close()


def test_the_detector_frames_a_small_person_the_crop_wide_pass_misses():
    # A street video's HOG box often holds a small person: the detector finds them in the picture
    # fitted whole and the region it gives frames them for the pose model (MediaPipe's own graph).
    with Image.open(shared_dataset("ltcc-mini") / "query/028_2_c2_002001.png") as im:
        crop = im.convert("RGB")
    background = np.asarray(crop.filter(ImageFilter.GaussianBlur(30)))
    one_pass = {"refine": False, "silhouette_fallback": False, "tight_scale": None}
    with_detector = make_parser("mediapipe", **one_pass)
    without = make_parser("mediapipe", **one_pass, min_detector_score=0.0)
    found = found_without = 0
    for frac, x in ((0.3, 10), (0.3, 40), (0.35, 10), (0.35, 70), (0.4, 10), (0.4, 70)):
        w, h = int(128 * frac), int(256 * frac)
        im = background.copy()
        y = 256 - h - 4
        im[y : y + h, x : x + w] = np.asarray(crop.resize((w, h), Image.BILINEAR))
        r = with_detector.parse(im)
        if r.parts is not None:  # on the small person
            ys, xs = np.nonzero(r.parts)
            found += np.mean((ys >= y - 4) & (xs >= x - 4) & (xs < x + w + 4)) > 0.9
        found_without += without.parse(im).parts is not None
    assert found >= 5 and found_without <= 2, (found, found_without)
    assert with_detector.stats["detected_pass"] >= 5
    with_detector.close()
    without.close()


def test_confident_maps_are_byte_identical_with_and_without_the_detector():
    with_detector = make_parser("mediapipe")
    without = make_parser("mediapipe", min_detector_score=0.0)
    assert without._detector is None
    same = 0
    for im in _crops("prcc-mini", 12):
        asked = with_detector.stats["detector_pass"]
        a, b = with_detector.parse(im), without.parse(im)
        if with_detector.stats["detector_pass"] == asked:  # not asked: nothing may change
            assert (a.parts is None) == (b.parts is None)
            if a.parts is not None:
                assert np.array_equal(a.parts, b.parts) and a.quality == b.quality
                same += 1
    assert same >= 8
    with_detector.close()
    without.close()


def test_a_missing_detector_model_is_one_sentence_before_the_first_image(monkeypatch, tmp_path: Path):
    from occreid.parser.pose import wheel_model

    def missing() -> Path:  # the real lookup, of a file no wheel ships
        return wheel_model("modules/pose_detection/no_such_model.tflite", "the person detector")

    monkeypatch.setattr(detector, "model_path", missing)
    with pytest.raises(ParserError) as err:
        build_parser("mediapipe", {})
    message = str(err.value)
    assert "person detector was not found" in message and "\n" not in message
    # Without the second opinion the parser does not need the file.
    build_parser("mediapipe", {"min_detector_score": 0.0}).close()
