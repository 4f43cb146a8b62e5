"""The part-quality score (``occreid.parser.quality``) on real crops from ../shared/data: a sound map
of a real person scores high, the same map broken scores lower, and the score travels from the
parser to the manifest, the part map's PNG text, ``--parts-from`` reuse, ``stats`` and the report.

Whether it ranks maps as third-party annotations do is ``benchmarks/bench_parts.py``'s figure
(docs/part-quality.md).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, PngImagePlugin

from occreid.parser import make_parser
from occreid.parser.quality import consistency, part_quality, quality_components
from occreid.report.page import reason_kind
from occreid.saved import read_part_map

pytest.importorskip("mediapipe", reason="the embedded parser needs mediapipe==0.10.21")

#: Market-1501 crops of one clearly visible, upright person each.
PEOPLE = ("0009_c6s1_000476_03.jpg", "0024_c2s1_001626_05.jpg")
#: A crop whose map the score distrusts (measured 0.12: a weak person score).
DOUBTFUL = "0043_c6s1_004426_01.jpg"


def _market(name: str):
    hits = sorted(shared_dataset("market1501-mini").rglob(name))
    if not hits:
        pytest.skip(f"{name} is not in market1501-mini")
    return hits[0]


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def parser():
    p = make_parser("mediapipe")
    yield p
    p.close()


@pytest.mark.parametrize("name", PEOPLE)
def test_a_real_persons_map_scores_high_and_the_same_map_broken_scores_lower(parser, name):
    r = parser.parse(_rgb(_market(name)))
    assert r.parts is not None and r.quality is not None
    assert 0.5 <= r.quality <= 1.0
    comps = quality_components(r.parts)
    assert comps["order"] == 1.0 and comps["attached"] >= 0.9
    assert consistency(r.parts)["order"] is True
    # upside down: the legs above the head
    flipped = part_quality(r.parts[::-1])
    assert flipped < part_quality(r.parts) and quality_components(r.parts[::-1])["order"] == 0.0
    # the lower legs torn off the thighs and moved to the top corner: detached
    torn = r.parts.copy()
    shins = torn == 6
    torn[shins] = 0
    ys, xs = np.nonzero(shins)
    torn[ys - ys.min(), np.minimum(xs - xs.min(), torn.shape[1] - 1)] = 6
    assert quality_components(torn)["attached"] < comps["attached"]
    assert part_quality(torn) < part_quality(r.parts)
    # a weak person score lowers it too
    assert part_quality(r.parts, person_score=3.0) < part_quality(r.parts, person_score=14.0)


def test_no_map_has_no_score_and_an_empty_map_scores_zero():
    assert part_quality(None) is None
    assert part_quality(np.zeros((8, 4), np.uint8)) == 0.0


def test_reasons_count_together_without_their_numbers():
    assert reason_kind("no person: presence 0.15 < 0.20") == reason_kind("no person: presence 0.05 < 0.20")
    assert reason_kind("person too small (torso 24 px, head to ankles 73 px in a 379 px high crop)") == \
        "person too small"
    assert reason_kind("") == "(no reason given)"


def _strip_quality(path) -> None:
    """Rewrite a saved map as the versions before the score wrote it: no ``occreid-part-quality``."""
    with Image.open(path) as im:
        im.load()
        meta = PngImagePlugin.PngInfo()
        for k, v in im.info.items():
            if k.startswith("occreid-") and k != "occreid-part-quality":
                meta.add_text(k, v)
        buf = io.BytesIO()
        im.save(buf, format="PNG", pnginfo=meta)
    path.write_bytes(buf.getvalue())


def test_the_score_reaches_the_manifest_the_saved_map_a_reuse_stats_and_the_report(tmp_path):
    from occreid.report import write_report
    from occreid.runner import GenerateConfig, generate
    from occreid.stats import stats_for
    from occreid.writer import read_manifest

    src = tmp_path / "in"
    src.mkdir()
    for name in (*PEOPLE, DOUBTFUL):
        shutil.copy(_market(name), src / name)
    Image.fromarray(np.full((128, 64, 3), 90, np.uint8)).save(src / "wall.png")  # no person: no score
    first = tmp_path / "a"
    generate(GenerateConfig(input=src, output=first, layout="folder", workers=1, save_parts=True))
    rows = {r.relpath: r for r in read_manifest(first)}
    assert rows["wall.png"].status == "no_person" and rows["wall.png"].part_quality is None
    for name in PEOPLE:
        q = rows[name].part_quality
        assert q is not None and 0.0 <= q <= 1.0
        saved = read_part_map(first / "_occreid" / "parts" / f"{name}.png")
        assert saved.quality == pytest.approx(q, abs=1e-6)
    st = stats_for(first)["all"]["part_quality"]
    assert st["p10"] <= st["p50"] <= st["p90"] <= 1.0
    # --parts-from keeps the recorded score; a map saved before the score reads as None
    _strip_quality(first / "_occreid" / "parts" / f"{PEOPLE[1]}.png")
    second = tmp_path / "b"
    generate(GenerateConfig(input=src, output=second, layout="folder", workers=1, parts_from=first))
    again = {r.relpath: r for r in read_manifest(second)}
    assert again[PEOPLE[0]].part_source == "saved"
    assert again[PEOPLE[0]].part_quality == pytest.approx(rows[PEOPLE[0]].part_quality, abs=1e-6)
    assert again[PEOPLE[1]].part_quality is None
    # the report lists the scored maps, the lowest first
    html = tmp_path / "report.html"
    write_report([first], html)
    page = html.read_text()
    assert 'id="quality-A"' in page
    scored = sorted((n for n in rows if rows[n].part_quality is not None), key=lambda n: rows[n].part_quality)
    assert scored[0] == DOUBTFUL and len(scored) == 3
    at = [page.index(f'title="{n}" data-quality') for n in scored]
    assert at == sorted(at)


def test_the_tight_pass_is_taken_for_a_clear_person_and_left_when_its_map_spills(parser):
    from occreid.parser import subject

    before = parser.stats["wide_pass"]
    for name in PEOPLE:  # a clear, centred person: the tight framing's map is kept
        assert parser.parse(_rgb(_market(name))).parts is not None
    assert parser.stats["wide_pass"] == before
    # a passer-by at the left edge of a box around another person (real Market-1501 pixels): the
    # tight framing mixes the two people (its landmarks' heatmaps spread over both), so the usual
    # passes (and the subject pass) decide; the spill check would send it there too
    subj = _rgb(_market("0012_c1s1_000701_01.jpg"))
    other = _rgb(_market("0027_c1s4_033481_01.jpg"))
    canvas = np.ascontiguousarray(np.concatenate([other[:, 8:], subj, subj[:, :-9:-1]], axis=1))
    only_tight = make_parser("mediapipe", max_spread=99.0)  # the heatmap-spread check off
    try:
        r = only_tight.parse(canvas)
        assert r.parts is not None and only_tight.stats["wide_pass"] == 0
        cols = (r.parts > 0).sum(axis=0)
        assert cols[:56].sum() > 0.25 * cols.sum()  # a quarter of the map on the passer-by
    finally:
        only_tight.close()
    checked = make_parser("mediapipe")  # the default: the spread check on, the spill unchecked
    try:
        r = checked.parse(canvas)
        assert checked.stats["wide_pass"] == 1 and checked.stats["subject_pass"] == 1
    finally:
        checked.close()
    cols = (r.parts > 0).sum(axis=0)
    assert cols[56:120].sum() >= 0.9 * cols.sum()
    lm = np.array([[0.0, 0.0, 1.0]] * 33)
    lm[[11, 23], 0], lm[[12, 24], 0] = 50.0, 70.0
    parts = np.zeros((40, 120), np.uint8)
    parts[:, 50:70] = 2
    assert subject.spill(parts, lm) == 0.0
    parts[:, 0:20] = 3
    assert subject.spill(parts, lm) == pytest.approx(0.5)
