"""The visual report (``occreid.report``): every asset exists, the numbers are the manifest's,
skipped images are listed with their reasons, two runs side by side, pasted occluders with their
donor, the template shipped as package data, and the page as a real browser (headless Chromium)
renders it: every image loads and the tables are there.

Outputs are made with the box-figure parser (no model) from a third of ltcc-mini plus a few
broken files, so the no_person and error lists are not empty."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from PIL import Image

from occreid.cli import main
from occreid.occlusion import OcclusionParams
from occreid.report import ReportError, write_report
from occreid.report.thumbnails import open_rgb
from occreid.runner import GenerateConfig, generate
from occreid.stats import summarize
from occreid.writer import read_manifest

CHROMIUM = Path("/usr/bin/chromium")
BOX = "parsers:BoxParser"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """(input, run A: box parser with parts and masks, run B: rectangles from A's part maps)."""
    src = shared_dataset("ltcc-mini")
    base = tmp_path_factory.mktemp("report")
    inp = base / "ltcc"
    for split in ("train", "query", "test"):
        (inp / split).mkdir(parents=True)
        for f in sorted((src / split).glob("*.png"))[::3]:
            shutil.copy2(f, inp / split / f.name)
    buf = io.BytesIO()
    Image.new("RGB", (64, 128), (128, 128, 128)).save(buf, "PNG")
    (inp / "train" / "901_1_c1_000001.png").write_bytes(buf.getvalue())  # uniform: no person
    (inp / "train" / "902_1_c1_000001.png").write_bytes(b"not an image at all")  # error
    (inp / "query" / "903_1_c2_000001.png").write_bytes(buf.getvalue()[:60])  # truncated: error
    small = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(small, "PNG")
    (inp / "test" / "904_1_c3_000001.png").write_bytes(small.getvalue())  # too small: error
    a, b = base / "occ_default", base / "occ_rect"
    generate(GenerateConfig(input=inp, output=a, parser=BOX, save_parts=True, save_masks=True, workers=1))
    generate(GenerateConfig(input=inp, output=b, parser=BOX, parts_from=a, workers=1,
                            occlusion=OcclusionParams(shape="rectangle")))
    return inp, a, b


class Page(HTMLParser):
    """What the tests read from the page: images, and the cells of tables with an id."""

    def __init__(self, text: str):
        super().__init__()
        self.imgs: list[str] = []
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self._table = self._split = self._col = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        elif tag == "table" and a.get("id"):
            self._table = self.tables.setdefault(a["id"], {})
        elif tag == "tr" and self._table is not None and "data-split" in a:
            self._split = self._table.setdefault(a["data-split"], {})
        elif tag == "td" and self._split is not None and "data-col" in a:
            self._col = a["data-col"]
            self._split[self._col] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._col = None
        elif tag == "table":
            self._table = self._split = None

    def handle_data(self, data):
        if self._col is not None:
            self._split[self._col] += data.strip()


def section_text(page: str, section_id: str) -> str:
    m = re.search(rf'<section id="{section_id}".*?</section>', page, re.S)
    assert m, f"no section {section_id}"
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", m.group(0)))


def check_assets(html: Path, page: Page) -> None:
    assert page.imgs
    for src in page.imgs:
        assert not re.match(r"^[a-z]+:|^/", src), f"{src} is not a relative path: the report must be self-contained"
        path = html.parent / src
        assert path.is_file() and path.stat().st_size > 0, f"{src} is missing"
        if path.suffix == ".jpg":
            with Image.open(path) as im:
                assert max(im.size) <= 128
        else:
            assert path.suffix == ".svg" and b"<svg" in path.read_bytes()[:2000]


def test_single_run_page_assets_numbers_and_skipped_lists(outputs, tmp_path):
    inp, a, _ = outputs
    html = tmp_path / "rep" / "index.html"
    res = write_report([a], html, samples_per_cell=3, seed=0, max_listed=10)
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    check_assets(html, page)
    assert res.files == len(set(page.imgs)) and res.bytes < 2_000_000

    rows = read_manifest(a)
    summary = summarize(rows)
    table = page.tables["stats-A"]
    assert set(table) == set(summary)
    for split, counts in summary.items():
        for col, value in table[split].items():
            assert int(value) == counts[col], (split, col)
    assert {"ids", "images", "cameras", "clothes", "occluded", "no_person", "error"} <= set(table["all"])
    assert "occlusion-A" in page.tables and {"grid-A-train", "grid-A-query", "grid-A-test"} <= set(page.tables)

    no_person = section_text(text, "no_person-A")
    assert "1 image" in no_person and "uniform image" in no_person and "901_1_c1_000001.png" in no_person
    errors = section_text(text, "error-A")
    reasons = [r.reason for r in rows if r.status == "error"]
    assert len(reasons) == 3 and "3 images" in errors
    for r in rows:
        if r.status == "error":
            assert r.relpath.rsplit("/", 1)[1] in errors and htmllib.unescape(r.reason) in errors
    assert "Occ-PRCC samples median 13.5%" in (html.parent / "index_assets" / "image_fraction.svg").read_text()

    # reproducible: the same page and the same assets, byte for byte
    again = tmp_path / "again" / "index.html"
    write_report([a], again, samples_per_cell=3, seed=0, max_listed=10)
    assert again.read_text(encoding="utf-8") == text
    for src in set(page.imgs):
        assert (again.parent / src).read_bytes() == (html.parent / src).read_bytes()
    # another seed, other samples
    other = tmp_path / "seed1" / "index.html"
    write_report([a], other, samples_per_cell=3, seed=1, max_listed=10)
    assert Page(other.read_text(encoding="utf-8")).imgs != page.imgs


def test_two_runs_side_by_side(outputs, tmp_path):
    _, a, b = outputs
    html = tmp_path / "index.html"
    write_report([a, b], html, samples_per_cell=2)
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    check_assets(html, page)
    for label, root in (("A", a), ("B", b)):
        summary = summarize(read_manifest(root))
        table = page.tables[f"stats-{label}"]
        assert all(int(v) == summary[s][c] for s, cols in table.items() for c, v in cols.items())
        assert f"no_person-{label}" in text and f"error-{label}" in text
    assert re.search(r'<td class="differs">part</td><td class="differs">rectangle</td>', text)
    # same input: each sample shows original | part map | occluded by A | occluded by B
    grid = re.search(r'<table class="grid" id="grid-A-test">.*?</table>', text, re.S).group(0)
    cell = re.search(r'<div class="trip">.*?</div>\s*<div class="cap">', grid, re.S).group(0)
    assert cell.count("<img") == 4 and "B: " in grid and "rectangle" in grid


def test_cli_without_parts_or_input_and_refusals(outputs, tmp_path):
    inp, a, b = outputs
    html = tmp_path / "b" / "index.html"
    args = ["report", str(b), "--html", str(html), "--samples", "1", "--max-listed", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = html.read_text(encoding="utf-8")
    check_assets(html, Page(text))
    assert "(showing 1)" in text  # 3 errors, one listed
    # said once above the grids, not under every sample
    assert text.count("Part maps were not saved") == 1 and "part map not saved" not in text

    moved = inp.with_name("ltcc_moved")
    inp.rename(moved)
    try:
        write_report([a], tmp_path / "gone" / "index.html", samples_per_cell=1)
    finally:
        moved.rename(inp)
    text = (tmp_path / "gone" / "index.html").read_text(encoding="utf-8")
    check_assets(tmp_path / "gone" / "index.html", Page(text))
    assert "is not there" in text and "input not found" in text

    with pytest.raises(ReportError, match="dataset tree"):
        write_report([a], a / "train" / "index.html")
    (tmp_path / "mine_assets").mkdir()
    (tmp_path / "mine_assets" / "keep.txt").write_text("not the report's")
    with pytest.raises(ReportError, match="not written by occreid report"):
        write_report([a], tmp_path / "mine.html")
    bad = CliRunner().invoke(main, ["report", str(a), str(b), str(a), "--html", str(tmp_path / "x.html")])
    assert bad.exit_code == 2 and "unexpected extra argument" in bad.output


def test_cli_refuses_a_cut_short_manifest_in_one_sentence(outputs, tmp_path):
    """A manifest cut in the middle of a row: exit code 2, the reason, no traceback, no page."""
    _, a, _ = outputs
    root = tmp_path / "cut"
    (root / "_occreid").mkdir(parents=True)
    data = (a / "_occreid" / "manifest.csv").read_bytes()
    (root / "_occreid" / "manifest.csv").write_bytes(data[: len(data) // 2 - 7])
    html = tmp_path / "cut_report" / "index.html"
    result = CliRunner().invoke(main, ["report", str(root), "--html", str(html)])
    assert result.exit_code == 2, result.output
    assert "cut short" in result.output and "Traceback" not in result.output
    assert not html.exists()


@pytest.fixture(scope="module")
def pasted(outputs, tmp_path_factory):
    """Runs with pasted occluders over run A's part maps: other pedestrians (shape person) and an
    object cut-out (shape object, from an RGBA file made here)."""
    inp, a, _ = outputs
    base = tmp_path_factory.mktemp("pasted")
    objects = base / "objects" / "ground"
    objects.mkdir(parents=True)
    rgba = np.zeros((60, 40, 4), np.uint8)
    rgba[5:55, 5:35] = (40, 160, 60, 255)  # an opaque green box, transparent around it
    Image.fromarray(rgba, "RGBA").save(objects / "green_bin.png")
    person, obj = base / "occ_person", base / "occ_object"
    generate(GenerateConfig(input=inp, output=person, parser=BOX, parts_from=a, workers=1,
                            occlusion=OcclusionParams(shape="person")))
    generate(GenerateConfig(input=inp, output=obj, parser=BOX, parts_from=a, workers=1,
                            occlusion=OcclusionParams(shape="object", objects_dir=str(base / "objects"))))
    return inp, person, obj


def grid_cells(text: str) -> list[str]:
    """The HTML of each sample cell of the page's grids."""
    return re.findall(r'<div class="cell".*?<div class="cap">', text, re.S)


def test_pasted_occluders_show_their_donor_beside_the_sample(pasted, tmp_path):
    """Shape person: each sample shows the thumbnail of the very donor image the manifest names
    (decoded, it matches a thumbnail of that input file); shape object: the object file's name."""
    inp, person, obj = pasted
    html = tmp_path / "person" / "index.html"
    write_report([person], html, samples_per_cell=2)
    text = html.read_text(encoding="utf-8")
    check_assets(html, Page(text))
    rows = {r.relpath: r for r in read_manifest(person)}
    cells = grid_cells(text)
    assert cells and "<b>donor</b>" in text and "donors drawn from" in text
    for cell in cells:
        rel = htmllib.unescape(re.search(r'<div class="cell" title="([^"]+)"', cell).group(1))
        donor = rows[rel].donor
        assert donor and donor != rel
        m = re.search(r'<div class="slot gap" title="donor ([^"]+)">\s*<img src="([^"]+)"', cell)
        assert m and htmllib.unescape(m.group(1)) == donor, cell
        with Image.open(html.parent / m.group(2)) as shown:
            got = np.asarray(shown.convert("RGB"), np.float32)
        want = np.asarray(open_rgb(inp / donor), np.float32)
        assert got.shape == want.shape and np.abs(got - want).mean() < 4.0  # the same image, JPEG-compressed

    html = tmp_path / "object" / "index.html"
    write_report([obj], html, samples_per_cell=2)
    text = html.read_text(encoding="utf-8")
    cells = grid_cells(text)
    assert cells and all('<div class="missing">object<br>green_bin.png</div>' in c for c in cells)
    assert "objects folder" in text


def test_part_and_rectangle_pages_show_no_donor(outputs, tmp_path):
    _, a, b = outputs
    html = tmp_path / "index.html"
    write_report([a, b], html, samples_per_cell=2)
    text = html.read_text(encoding="utf-8")
    assert grid_cells(text) and "donor" not in text


def test_template_ships_as_package_data():
    """The page template is a real file, loaded by Jinja2's PackageLoader, and pyproject.toml
    declares it as package data so an installed occreid has it."""
    import tomllib

    loader = jinja2.PackageLoader("occreid.report", "templates")
    source, filename, _ = loader.get_source(jinja2.Environment(), "report.html.j2")
    assert source.startswith("<!doctype html>") and filename.endswith("report.html.j2")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["occreid.report"]
    package = Path(filename).parents[1]
    assert any(Path(filename) in package.glob(pattern) for pattern in declared)


CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const out = {
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")),
    tables: [...document.querySelectorAll("table[id]")].map(t => t.id),
    statRows: document.querySelectorAll("table.stats tr[data-split]").length,
  };
  const pre = document.createElement("pre");
  pre.id = "occreid-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed: scripts/test.sh installs Debian's "
                    "chromium package when run as root with apt-get")
def test_page_renders_in_headless_chromium(outputs, tmp_path):
    """Chromium loads the page from file:// and a script checks, after the load event, that every
    image decoded (naturalWidth > 0) and the tables exist; --dump-dom returns its verdict."""
    _, a, b = outputs
    html = tmp_path / "index.html"
    write_report([a, b], html, samples_per_cell=2)
    text = html.read_text(encoding="utf-8")
    probe = html.with_name("index_check.html")  # beside the page, so its relative paths resolve
    probe.write_text(text.replace("</body>", CHECK + "</body>"), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="occreid-chromium-")
    try:
        proc = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1400,3000", "--virtual-time-budget=5000",
             "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="occreid-check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no verdict from Chromium (exit {proc.returncode}): {proc.stderr[-2000:]}"
    verdict = json.loads(htmllib.unescape(m.group(1)))
    assert verdict["images"] == len(Page(text).imgs) > 0
    assert verdict["broken"] == []
    assert {"params", "stats-A", "stats-B", "occlusion-A", "occlusion-B", "grid-A-test"} <= set(verdict["tables"])
    assert verdict["statRows"] == 2 * 4  # three splits and "all", per run
