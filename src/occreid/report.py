"""A visual report of generated datasets: ``occreid report OUT [OUT2] --html DIR/index.html``.

People judge an occluded dataset by looking at it. The report is one HTML page (Jinja2,
autoescaped, no scripts, no external resources) and an assets folder beside it
(``DIR/index_assets/``: JPEG thumbnails and SVG plots made with matplotlib's Agg backend):

1. a statistics table per split (ids, images, cameras, clothes, statuses; via ``stats.summarize``)
   and an occlusion table (parts drawn, percentiles; via ``stats.manifest_stats``);
2. plots of the parts drawn, the occluded image fraction and the covered person fraction, with the
   published samples' medians (PAPER-NOTES.md) marked for reference;
3. sample grids per split and body part: original | part map on the original | occluded;
4. the no_person and error images with their reasons (capped, with counts per reason);
5. with two outputs, both side by side (tables, plot series, an extra grid column).

Everything shown is read from what the writer produced (``manifest.csv``, ``run.json``, the tree,
the optional part maps and masks); no parser runs. Samples are the first rows of each group in
the order of SHA-1(seed, relpath), so a report is reproducible to the byte and a larger dataset
only adds candidates. The work is capped (samples per cell, listed images, splits with grids), so
writing a report takes about the same few seconds for 5,000 images as for 30,000.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
from PIL import Image

from .layout import STATE_DIR
from .parts import PALETTE, PARTS
from .stats import manifest_stats, summarize
from .writer import STATUSES, ManifestError, OutputTree, read_manifest

#: Largest thumbnail (width, height); re-ID crops are about 1:2.
THUMB = (64, 128)
#: Published Occ-PRCC / Occ-LTCC samples, median occluded image fraction in % (PAPER-NOTES.md).
REFERENCE_MEDIANS = {"Occ-PRCC samples": 13.5, "Occ-LTCC samples": 22.1}
#: Splits beyond this many (``folder`` layouts may have hundreds) get no sample grid.
MAX_GRID_SPLITS = 8
#: File in an assets folder that says the report wrote it (and may clear it).
ASSET_MARKER = ".occreid-report"
#: Status columns always shown; the others (part_absent, not_selected...) when they happen.
ALWAYS_SHOWN = ("occluded", "no_person", "error")
RECT_SIDES = ("rect_top", "rect_bottom", "rect_left", "rect_right")
RUN_COLOURS = ("#2f6fd0", "#e0801a")
OVERLAY_ALPHA = 0.55
MASK_COLOUR = (230, 30, 30)


class ReportError(RuntimeError):
    """The report cannot be written as asked; the message says why."""


class _Refused(click.ClickException):
    """A refusal the user can fix (damaged manifest, bad destination): one sentence, exit code 2."""

    exit_code = 2


def _rank(seed: int, relpath: str) -> bytes:
    return hashlib.sha1(f"{seed}\0{relpath}".encode("utf-8", "surrogateescape")).digest()


def sample_rows(rows: list[dict], n: int, seed: int) -> list[dict]:
    """The first ``n`` rows in the order of SHA-1(seed, relpath): reproducible, order-free."""
    return sorted(rows, key=lambda r: _rank(seed, r["relpath"]))[: max(0, n)]


def _pretty(part: str) -> str:
    """``upper_arms`` -> ``upper arms``; ``rect_top`` -> ``rectangle top``."""
    return part.replace("rect_", "rectangle ").replace("_", " ")


def _components(part: str) -> list[str]:
    """What an occluder covers, one entry per part: ``head+torso`` -> [head, torso]."""
    return [p for p in part.split("+") if p]


def _component_order(name: str) -> tuple:
    if name in PARTS:
        return (0, PARTS.index(name), name)
    if name in RECT_SIDES:
        return (1, RECT_SIDES.index(name), name)
    return (2, 0, name)


def _colour(name: str) -> str:
    rgb = PALETTE[PARTS.index(name)] if name in PARTS and name != PARTS[0] else (120, 120, 120)
    return "#%02x%02x%02x" % rgb


def _num(v) -> str:
    try:
        return f"{float(v):g}"
    except (TypeError, ValueError):
        return str(v)


def _pct(v) -> str:
    return "–" if v in (None, "") else f"{float(v) * 100:.1f}%"


# -- one output ----------------------------------------------------------------------------
@dataclass
class _Run:
    label: str
    root: Path
    rows: list[dict]
    info: dict
    input: Path | None
    input_ok: bool
    summary: dict
    stats: dict
    splits: list[str]
    params: dict
    has_parts: bool
    has_masks: bool
    by_rel: dict = field(default_factory=dict)
    colour: str = RUN_COLOURS[0]
    #: split ("all" too) -> part -> occluded rows whose occluder covers it (one pass over the rows)
    covering: dict = field(default_factory=dict)

    def covered(self, split: str = "all") -> Counter:
        """Occluded images covering each part (an occluder over two parts counts for both)."""
        return Counter({p: len(rs) for p, rs in self.covering.get(split, {}).items()})

    @property
    def name(self) -> str:
        return f"{self.label}: {self.root.name}"


def _fmt(v) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return " – ".join(_fmt(x) for x in v) if v else "–"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _params(fp: dict, first: dict, tree: OutputTree) -> dict:
    """The run's parameters as shown: from run.json's fingerprint, else from the manifest."""
    occ = fp.get("occlusion", {})

    def get(key, row_key=None):
        if key in occ:
            return occ[key]
        if key in fp:
            return fp[key]
        return first.get(row_key or key)

    out = {
        "layout": fp.get("layout"),
        "parser": fp.get("parser") or first.get("parser"),
        "seed": get("seed"),
        "preset": get("preset"),
        "shape": occ.get("shape", "part"),
        "part choice": get("part_choice"),
        "parts per occluder": occ.get("num_parts", 1),
        "person covered (target)": occ.get("target"),
        "pooling (levels x kernel)": f"{_fmt(get('pool_levels'))} x {_fmt(get('pool_kernel'))}",
        "threshold": _num(get("threshold")),
        "fill": get("fill"),
        "splits occluded": fp.get("splits"),
        "fraction occluded": fp.get("fraction"),
        "jpeg quality": fp.get("jpeg_quality"),
        "parts saved": (tree.state / "parts").is_dir(),
        "masks saved": (tree.state / "masks").is_dir(),
    }
    if occ.get("shape") == "rectangle":
        out["rectangle sides, depth"] = f"{_fmt(occ.get('rect_sides'))}; {_fmt(occ.get('rect_fraction'))}"
    if occ.get("fill") == "texture":
        out["texture folder"] = occ.get("texture_dir")
    return {k: _fmt(v) for k, v in out.items()}


def _load_run(root: Path, label: str, colour: str) -> _Run:
    root = Path(root)
    tree = OutputTree(root)
    try:
        rows = read_manifest(root)
    except (FileNotFoundError, ManifestError) as exc:
        raise ReportError(str(exc)) from None
    if not rows:
        raise ReportError(f"the manifest of {root} has no rows: nothing to report")
    try:
        info = json.loads(tree.run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    inp = Path(info["input"]) if info.get("input") else None
    params = _params(info.get("fingerprint", {}), rows[0], tree)
    summary = summarize(rows)
    covering: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        if r["status"] == "occluded":
            for c in _components(r["part"]):
                covering.setdefault(r["split"], {}).setdefault(c, []).append(r)
                covering.setdefault("all", {}).setdefault(c, []).append(r)
    return _Run(
        label=label, root=root, rows=rows, info=info, input=inp, input_ok=bool(inp and inp.is_dir()),
        summary=summary, stats=manifest_stats(rows), splits=[s for s in summary if s != "all"],
        params=params, has_parts=(tree.state / "parts").is_dir(), has_masks=(tree.state / "masks").is_dir(),
        by_rel={r["relpath"]: r for r in rows}, colour=colour, covering=covering,
    )


# -- images --------------------------------------------------------------------------------
def _open_rgb(path: Path) -> Image.Image | None:
    """A small RGB version of an image file (decoded at reduced scale when JPEG allows), or None."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (THUMB[0] * 2, THUMB[1] * 2))
            rgb = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    rgb.thumbnail(THUMB, Image.Resampling.BILINEAR)
    return rgb


def _open_index(path: Path, size: tuple[int, int], mode: str) -> np.ndarray | None:
    """A part map (palette indices) or a mask, resized to ``size`` with nearest neighbours."""
    try:
        with Image.open(path) as im:
            im = im if im.mode in ("P", "L", "1") else im.convert("L")
            arr = np.array(im.convert("L") if mode == "mask" else im.resize(size, Image.Resampling.NEAREST))
    except (OSError, ValueError, SyntaxError):
        return None
    if mode == "mask":  # pool the full-size mask so thin occluders stay visible
        m = Image.fromarray((arr > 0).astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
        return np.array(m) > 40
    return arr


def _overlay_parts(base: Image.Image, parts: np.ndarray) -> Image.Image:
    rgb = np.asarray(base, np.float32)
    colours = np.asarray(PALETTE, np.float32)[np.clip(parts, 0, len(PALETTE) - 1)]
    on = (parts > 0)[..., None]
    out = np.where(on, (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours, rgb * 0.75)  # dim the background
    return Image.fromarray(out.round().astype(np.uint8))


def _overlay_mask(base: Image.Image, mask: np.ndarray) -> Image.Image:
    rgb = np.asarray(base, np.float32)
    out = np.where(mask[..., None], 0.4 * rgb + 0.6 * np.asarray(MASK_COLOUR, np.float32), rgb)
    return Image.fromarray(out.round().astype(np.uint8))


def _derived_mask(orig: Image.Image, occ: Image.Image) -> np.ndarray | None:
    """Where the occluded image differs clearly from the original (thumbnail size): the occluder,
    whatever its fill, give or take dark pixels under a black one."""
    if orig.size != occ.size:
        return None
    a, b = np.asarray(orig, np.int16), np.asarray(occ, np.int16)
    return np.abs(a - b).max(-1) > 32


class _Assets:
    """Thumbnails and plots under the assets folder, each written once, named by a hash of its key."""

    def __init__(self, folder: Path, href: str):
        self.folder, self.href = folder, href
        self.done: dict[str, dict] = {}

    def image(self, key: str, im: Image.Image) -> dict:
        if key not in self.done:
            name = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:16] + ".jpg"
            im.save(self.folder / name, format="JPEG", quality=85, optimize=True)
            self.done[key] = {"src": f"{self.href}/{name}", "w": im.width, "h": im.height}
        return self.done[key]

    def svg(self, name: str, fig) -> dict:
        path = self.folder / f"{name}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        w, h = fig.get_size_inches() * 72
        return {"src": f"{self.href}/{path.name}", "w": int(w * 1.333), "h": int(h * 1.333)}


def _missing(text: str) -> dict:
    return {"missing": text, "note": ""}


class _Images:
    """The original, occluded, part-map and mask thumbnails of a relpath in a run."""

    def __init__(self, assets: _Assets):
        self.assets = assets
        self._cache: dict[tuple[str, str], Image.Image | None] = {}

    def _thumb(self, kind: str, path: Path) -> Image.Image | None:
        key = (kind, str(path))
        if key not in self._cache:
            self._cache[key] = _open_rgb(path)
        return self._cache[key]

    def original(self, run: _Run, rel: str) -> Image.Image | None:
        return self._thumb("img", run.input / rel) if run.input_ok else None

    def occluded(self, run: _Run, rel: str) -> Image.Image | None:
        return self._thumb("img", run.root / rel)

    def slot(self, kind: str, path_key: str, im: Image.Image | None, missing: str, note: str = "") -> dict:
        if im is None:
            return _missing(missing)
        return {**self.assets.image(f"{kind}:{path_key}", im), "missing": "", "note": note}

    def overlay(self, runs: list[_Run], rel: str) -> dict:
        """Part map blended on the original (or on the occluded image when the input is gone);
        without a saved part map, the occluder mask (saved, or derived from the two images)."""
        base_run = runs[0]
        orig = self.original(base_run, rel)
        base = orig if orig is not None else self.occluded(base_run, rel)
        if base is None:
            return _missing("no image to draw on")
        for run in runs:
            ppath = OutputTree(run.root).part_path(rel)
            if run.has_parts and ppath.exists():
                parts = _open_index(ppath, base.size, "parts")
                if parts is not None:
                    note = "" if orig is not None else "on the occluded image"
                    return self.slot("parts", str(ppath), _overlay_parts(base, parts), "", note)
        for run in runs:
            mpath = OutputTree(run.root).mask_path(rel)
            if run.has_masks and mpath.exists():
                mask = _open_index(mpath, base.size, "mask")
                if mask is not None:
                    return self.slot("mask", str(mpath), _overlay_mask(base, mask), "",
                                     "occluder (saved mask); part map not saved")
        occ = self.occluded(base_run, rel)
        if orig is not None and occ is not None:
            mask = _derived_mask(orig, occ)
            if mask is not None:
                return self.slot("derived", f"{base_run.root}/{rel}", _overlay_mask(orig, mask), "",
                                 "occluder derived from the images; part map not saved")
        return _missing("part map not saved (use --save-parts)")


# -- page content --------------------------------------------------------------------------
def _columns(runs: list[_Run]) -> dict:
    """Status columns and covered-part columns shared by the runs' tables."""
    statuses = [s for s in STATUSES if s in ALWAYS_SHOWN or any(r.summary["all"].get(s) for r in runs)]
    seen = set().union(*(r.covered() for r in runs))
    parts = sorted(seen | (set(PARTS[1:]) if any(not c.startswith("rect_") for c in seen) or not seen else set()),
                   key=_component_order)
    return {"statuses": statuses, "parts": parts}


def _stats_rows(run: _Run, statuses: list[str], parts: list[str]) -> list[dict]:
    out = []
    for split in run.splits + ["all"]:
        s, st = run.summary[split], run.stats[split]
        covered = run.covered(split)
        out.append({
            "split": split,
            "cells": {c: s.get(c, 0) for c in ("ids", "images", "cameras", "clothes", *statuses)},
            "parts": {p: covered.get(p, 0) for p in parts},
            "image_fraction": st["image_fraction"],
            "person_fraction": st["person_fraction"],
            "misses_person": st["misses_person"],
            "part_sources": st.get("part_sources", {}),
        })
    return out


def _grid(runs: list[_Run], images: _Images, samples: int, seed: int, paired: bool, parts: list[str]) -> list[dict]:
    """Per split, per part covered: sampled occluded images of the first run (with the second
    run's version of the same image when both runs come from the same input)."""
    base = runs[0]
    largest = set(sorted(base.splits, key=lambda s: -base.summary[s]["images"])[:MAX_GRID_SPLITS])
    out = []
    for split in [s for s in base.splits if s in largest]:
        parts_rows = []
        for part in parts:
            group = base.covering.get(split, {}).get(part, [])
            cells = []
            for r in sample_rows(group, samples, seed):
                rel = r["relpath"]
                cover = "" if r["part"] == part else f" ({_pretty(r['part'])})"
                cell = {
                    "relpath": rel,
                    "name": rel.rsplit("/", 1)[-1],
                    "original": images.slot("orig", f"{base.input}/{rel}", images.original(base, rel),
                                            "input not found" if not base.input_ok else "original missing"),
                    "overlay": images.overlay(runs, rel),
                    "occluded": [images.slot("occ", f"{base.root}/{rel}", images.occluded(base, rel),
                                             "output missing")],
                    "captions": [f"{_pct(r['image_fraction'])} img · {_pct(r['person_fraction'])} person{cover}"],
                }
                if paired:
                    other = runs[1]
                    o = other.by_rel.get(rel)
                    cell["occluded"].append(images.slot("occ", f"{other.root}/{rel}", images.occluded(other, rel),
                                                        "not in B" if o is None else "output missing"))
                    if o is None:
                        cell["captions"].append("B: not in this run")
                    elif o["status"] != "occluded":
                        cell["captions"].append(f"B: {o['status'].replace('_', ' ')}")
                    else:
                        diff = "" if o["part"] == r["part"] else f" ({_pretty(o['part'])})"
                        cell["captions"].append(f"B: {_pct(o['image_fraction'])} img{diff}")
                cells.append(cell)
            parts_rows.append({"part": part, "label": _pretty(part), "colour": _colour(part), "count": len(group),
                               "cells": cells})
        counts = base.summary[split]
        out.append({"split": split, "occluded": counts["occluded"], "images": counts["images"], "parts": parts_rows})
    return out


def _skipped(run: _Run, images: _Images, status: str, max_listed: int, seed: int) -> dict:
    rows = [r for r in run.rows if r["status"] == status]
    reasons = Counter(r["reason"] or "(no reason given)" for r in rows).most_common()
    listed = sorted(sample_rows(rows, max_listed, seed), key=lambda r: r["relpath"])
    items = []
    for r in listed:
        rel = r["relpath"]
        im, key = images.occluded(run, rel), f"{run.root}/{rel}"  # the output is an unchanged copy
        if im is None and run.input_ok:
            im, key = images.original(run, rel), f"{run.input}/{rel}"
        folder, _, name = rel.rpartition("/")
        items.append({"relpath": rel, "folder": folder, "name": name, "split": r["split"],
                      "reason": r["reason"] or "(no reason given)",
                      "img": images.slot("skip", key, im, "cannot be decoded" if status == "error" else "no image")})
    return {"status": status, "title": status.replace("_", " "), "total": len(rows), "reasons": reasons[:20],
            "more_reasons": max(0, len(reasons) - 20), "items": items}


def _plots(runs: list[_Run], assets: _Assets, parts: list[str]) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "occreid-report", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    plots = []

    # parts covered: % of each run's occluded images
    fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
    x = np.arange(len(parts))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        covered = run.covered()
        total = max(1, run.summary["all"]["occluded"])
        vals = [100.0 * covered.get(p, 0) / total for p in parts]
        ax.bar(x + (i - (len(runs) - 1) / 2) * width, vals, width, color=[_colour(p) for p in parts],
               edgecolor=run.colour, linewidth=1.2, hatch="///" if i else None, alpha=0.55 if i else 0.9,
               label=run.name)
    body = [p for p in parts if p in PARTS]
    if body:
        ax.axhline(100 / len(body), color="0.4", linestyle=":", linewidth=1, label=f"uniform over {len(body)} parts")
    ax.set_xticks(x, [_pretty(p).replace("rectangle", "rect.").replace(" ", "\n", 1) for p in parts],
                  fontsize=8 if len(parts) <= 6 else 7)
    ax.set_ylabel("% of occluded images")
    ax.set_title("Parts covered")
    ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.25)
    ax.legend(fontsize=7, frameon=False, loc="upper center", ncol=len(runs) + 1)
    plots.append({"title": "Parts covered", **assets.svg("parts_covered", fig),
                  "caption": "Share of each run's occluded images whose occluder covers each part "
                             "(an occluder over two parts counts for both)."})
    plt.close(fig)

    for key, title, refs in (
        ("image_fraction", "Occluded image fraction", True),
        ("person_fraction", "Covered person fraction", False),
    ):
        fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
        series = [(run, np.array([float(r[key]) * 100 for r in run.rows if r["status"] == "occluded" and r[key] != ""]))
                  for run in runs]
        top = max([float(v.max()) for _, v in series if v.size] + [60.0 if refs else 100.0])
        bins = np.linspace(0, min(100.0, np.ceil(top / 5) * 5), 41)
        for run, v in series:
            if not v.size:
                continue
            w = np.full(v.size, 100.0 / v.size)
            ax.hist(v, bins=bins, weights=w, histtype="stepfilled", alpha=0.22, color=run.colour)
            ax.hist(v, bins=bins, weights=w, histtype="step", linewidth=1.3, color=run.colour)
            med = float(np.median(v))
            ax.axvline(med, color=run.colour, linewidth=1.8, label=f"{run.name} median {med:.1f}%")
        if refs:
            for (name, med), style in zip(REFERENCE_MEDIANS.items(), ("--", "-.")):
                ax.axvline(med, color="black", linestyle=style, linewidth=1.2, label=f"{name} median {med:.1f}%")
        ax.set_xlim(0, bins[-1])
        ax.set_xlabel(f"{title.lower()} (%)")
        ax.set_ylabel("% of occluded images")
        ax.set_title(title)
        ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * (1.15 + 0.1 * (len(runs) + 2 * refs)))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False, loc="upper right")
        if not any(v.size for _, v in series):
            ax.text(0.5, 0.5, "no occluded images", transform=ax.transAxes, ha="center", color="0.4")
        caption = ("Over occluded images. Black lines: medians measured on the published Occ-PRCC and "
                   "Occ-LTCC samples (PAPER-NOTES.md; those samples include their few unoccluded frames)."
                   if refs else "Share of the person's pixels under the occluder, over occluded images. "
                   "The published samples give no reference for this.")
        plots.append({"title": title, **assets.svg(key, fig), "caption": caption})
        plt.close(fig)
    return plots


def _compare_params(runs: list[_Run]) -> list[dict]:
    keys = list(dict.fromkeys(k for r in runs for k in r.params))
    return [{"key": k, "values": [r.params.get(k, "–") for r in runs],
             "differs": len({r.params.get(k, "–") for r in runs}) > 1} for k in keys]


# -- writing -------------------------------------------------------------------------------
@dataclass
class ReportResult:
    html: Path
    assets: Path
    files: int
    bytes: int
    seconds: float


def _check_destination(html: Path, runs: list[_Run], assets: Path) -> None:
    target = html.resolve()
    for run in runs:
        root = run.root.resolve()
        if target.is_relative_to(root) and not target.is_relative_to(root / STATE_DIR):
            raise ReportError(f"{html} lies inside the dataset tree of {run.root}: the report would add files to "
                              f"the dataset. Write it elsewhere, or under {run.root / STATE_DIR}.")
        if run.input_ok and target.is_relative_to(run.input.resolve()):
            raise ReportError(f"{html} lies inside the input {run.input}, which occreid never writes to.")
    if assets.exists() and not (assets / ASSET_MARKER).exists() and any(assets.iterdir()):
        raise ReportError(f"{assets} exists and was not written by occreid report; remove it or choose another --html.")


def write_report(outputs: list[Path], html: Path, samples_per_cell: int = 4, seed: int = 0,
                 max_listed: int = 40) -> ReportResult:
    """Write ``html`` and its assets folder ``<html stem>_assets/`` beside it for one output root
    (or two, shown side by side)."""
    start = time.perf_counter()
    outputs = [Path(o) for o in outputs]
    if not 1 <= len(outputs) <= 2:
        raise ReportError(f"give one output root, or two to compare (got {len(outputs)})")
    html = Path(html)
    if html.suffix.lower() not in (".html", ".htm"):
        raise ReportError(f"--html must name an .html file (got {html})")
    runs = [_load_run(o, label, colour) for o, label, colour in zip(outputs, "AB", RUN_COLOURS)]
    assets_dir = html.parent / f"{html.stem}_assets"
    _check_destination(html, runs, assets_dir)
    html.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(assets_dir, ignore_errors=True)
    assets_dir.mkdir(parents=True)
    (assets_dir / ASSET_MARKER).write_text("written by occreid report; rewritten on every run\n")
    assets = _Assets(assets_dir, assets_dir.name)
    images = _Images(assets)

    paired = False
    if len(runs) == 2:
        a, b = set(runs[0].by_rel), set(runs[1].by_rel)
        paired = len(a & b) >= 0.5 * min(len(a), len(b))
    own_parts = [_columns([r])["parts"] for r in runs]  # each run's table and grid rows: its own parts
    grids = [{"run": runs[0], "grid": _grid(runs if paired else runs[:1], images, samples_per_cell, seed, paired,
                                            own_parts[0])}]
    if len(runs) == 2 and not paired:  # different inputs: one grid per run
        grids.append({"run": runs[1], "grid": _grid(runs[1:], images, samples_per_cell, seed, False, own_parts[1])})
    columns = _columns(runs)
    context = {
        "runs": [{"run": r, "stats": _stats_rows(r, columns["statuses"], parts),
                  "part_columns": [{"key": p, "words": _pretty(p).split(" ", 1)} for p in parts],
                  "skipped": [_skipped(r, images, s, max_listed, seed) for s in ("no_person", "error")]}
                 for r, parts in zip(runs, own_parts)],
        "params": _compare_params(runs),
        "paired": paired,
        "grids": grids,
        "plots": _plots(runs, assets, columns["parts"]),
        "legend": [{"label": _pretty(p), "colour": _colour(p)} for p in PARTS[1:]],
        "status_columns": columns["statuses"],
        "samples": samples_per_cell, "seed": seed, "max_listed": max_listed, "thumb": THUMB,
        "max_grid_splits": MAX_GRID_SPLITS,
        "title": " vs ".join(r.root.name for r in runs),
    }
    page = _template().render(**context)
    tmp = html.with_name(html.name + ".tmp")
    tmp.write_text(page, encoding="utf-8", errors="replace")  # a non-UTF-8 file name shows as U+FFFD
    tmp.replace(html)
    files = [p for p in assets_dir.iterdir() if p.is_file() and p.name != ASSET_MARKER]
    size = html.stat().st_size + sum(p.stat().st_size for p in files)
    return ReportResult(html=html, assets=assets_dir, files=len(files), bytes=size,
                        seconds=time.perf_counter() - start)


def _template():
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE)


TEMPLATE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="occreid report">
<title>occreid report: {{ title }}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0 auto;
         max-width: 1400px; padding: 12px 20px 60px; }
  h1 { font-size: 24px; margin: 12px 0 4px; }
  h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d9dde3; }
  h3 { font-size: 15px; margin: 20px 0 6px; }
  .muted, .note { color: #666; }
  .tcap { font-weight: 600; margin: 14px 0 2px; }
  .note { font-size: 13px; margin: 4px 0 10px; }
  .warn { background: #fff4e0; border-left: 4px solid #e0801a; padding: 6px 10px; margin: 8px 0; }
  nav a { margin-right: 14px; }
  code { font-size: 12px; }
  table { border-collapse: collapse; margin: 4px 0 12px; }
  th, td { padding: 3px 9px; border-bottom: 1px solid #e6e8eb; text-align: right; white-space: nowrap; }
  th { background: #f3f5f7; font-weight: 600; vertical-align: bottom; }
  th:first-child, td:first-child { text-align: left; }
  tr.total td { font-weight: 700; border-top: 2px solid #9aa3ad; }
  td.zero { color: #aaa; }
  td.bad { color: #b3261e; font-weight: 600; }
  table.params td { text-align: left; }
  table.params td.differs { background: #fff4e0; font-weight: 600; }
  .side table.stats th, .side table.stats td, .side table.occlusion th, .side table.occlusion td { padding: 3px 4px 3px 6px; font-size: 12.5px; }
  .side { display: flex; flex-wrap: wrap; gap: 12px 28px; align-items: flex-start; }
  .run-tag { display: inline-block; min-width: 1.4em; padding: 0 5px; border-radius: 4px; color: #fff;
             font-weight: 700; text-align: center; }
  .swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px;
            vertical-align: -1px; border: 1px solid rgba(0,0,0,.25); }
  .legend span { margin-right: 14px; white-space: nowrap; }
  .plots { display: flex; flex-wrap: wrap; gap: 10px 24px; }
  .plots figure { margin: 0; width: 430px; }
  .plots img { width: 100%; height: auto; }
  figcaption { font-size: 12px; color: #555; }
  table.grid th.part { text-align: left; vertical-align: middle; width: 110px; white-space: normal; background: none; }
  table.grid td { padding: 6px 8px; vertical-align: top; text-align: left; }
  .cells { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: flex-start; }
  .cell { display: block; width: min-content; }
  .trip { display: flex; gap: 2px; }
  .slot { width: {{ thumb[0] }}px; height: {{ thumb[1] }}px; display: flex; align-items: flex-end;
          justify-content: center; background: #f4f4f4; position: relative; }
  .slot img { display: block; }
  .slot.gap { margin-left: 5px; }
  .missing { width: {{ thumb[0] }}px; height: {{ thumb[1] }}px; display: flex; align-items: center;
             justify-content: center; text-align: center; font-size: 10px; color: #888; background: #f7f7f7;
             border: 1px dashed #c8c8c8; box-sizing: border-box; padding: 3px; white-space: normal; }
  .badge { position: absolute; top: 1px; left: 1px; font-size: 9px; line-height: 11px; padding: 0 3px;
           background: rgba(255,255,255,.85); color: #333; border-radius: 2px; }
  .cap { white-space: normal; font-size: 10.5px; color: #444; line-height: 1.3; margin-top: 2px; }
  .cap code { font-size: 10px; color: #777; }
  .empty { color: #999; font-size: 12px; }
  .cards { display: flex; flex-wrap: wrap; gap: 8px; }
  .card { width: 208px; box-sizing: border-box; display: flex; gap: 6px; font-size: 11px; border: 1px solid #e6e8eb; border-radius: 4px;
          padding: 4px; }
  .card .txt { overflow-wrap: anywhere; min-width: 0; }
  .card code { font-size: 10.5px; }
  .card .reason { color: #b3261e; }
  .col { min-width: 0; flex: 1 1 600px; }
</style>
</head>
<body>
<h1>occreid report: {{ title }}</h1>
<p class="muted">An occluded re-ID dataset at a glance: statistics from <code>_occreid/manifest.csv</code>,
plots, reproducible samples (seed {{ seed }}), and every image that was not occluded and why.</p>
<nav><a href="#stats">Statistics</a><a href="#plots">Plots</a><a href="#samples">Samples</a><a href="#skipped">Skipped images</a></nav>

<h2 id="runs">{{ "Runs" if runs|length > 1 else "Run" }}</h2>
<table class="params" id="params">
  <tr><th></th>{% for r in runs %}<th><span class="run-tag" style="background: {{ r.run.colour }}">{{ r.run.label }}</span></th>{% endfor %}</tr>
  <tr><td>output</td>{% for r in runs %}<td><code>{{ r.run.root }}</code></td>{% endfor %}</tr>
  <tr><td>input</td>{% for r in runs %}<td><code>{{ r.run.input or "unknown" }}</code>{% if not r.run.input_ok %} <b>(not found)</b>{% endif %}</td>{% endfor %}</tr>
  {% for p in params %}
  <tr><td>{{ p.key }}</td>{% for v in p["values"] %}<td{% if p.differs %} class="differs"{% endif %}>{{ v }}</td>{% endfor %}</tr>
  {% endfor %}
</table>
{% for r in runs %}{% if not r.run.input_ok %}
<p class="warn">Run {{ r.run.label }}: the input folder <code>{{ r.run.input or "(not recorded in run.json)" }}</code> is not there,
so its original images cannot be shown; the samples show the occluded images only.</p>
{% endif %}{% endfor %}

<h2 id="stats">1. Statistics per split</h2>
<div class="side">
{% for r in runs %}
<div>
  <h3><span class="run-tag" style="background: {{ r.run.colour }}">{{ r.run.label }}</span> {{ r.run.root.name }}: images and labels</h3>
  <table class="stats" id="stats-{{ r.run.label }}">
    <tr><th>split</th><th>ids</th><th>images</th><th>cameras</th><th>clothes</th>{% for c in status_columns %}<th>{{ c.replace("_", " ") }}</th>{% endfor %}</tr>
    {% for row in r.stats %}
    <tr data-split="{{ row.split }}"{% if row.split == "all" %} class="total"{% endif %}><td>{{ row.split }}</td>
      {% for c, v in row.cells.items() %}<td data-col="{{ c }}" class="{{ 'zero' if v == 0 else ('bad' if c in ('no_person', 'error') else '') }}">{{ v }}</td>{% endfor %}</tr>
    {% endfor %}
  </table>
  <p class="tcap">Parts covered and occluded fractions (%)</p>
  <table class="occlusion" id="occlusion-{{ r.run.label }}">
    <tr><th>split</th>{% for p in r.part_columns %}<th>{{ p.words[0] }}{% if p.words|length > 1 %}<br>{{ p.words[1] }}{% endif %}</th>{% endfor %}<th>image %<br>p10 / p50 / p90</th><th>person %<br>p10 / p50 / p90</th><th>misses<br>person</th></tr>
    {% for row in r.stats %}
    <tr data-split="{{ row.split }}"{% if row.split == "all" %} class="total"{% endif %}><td>{{ row.split }}</td>
      {% for p, v in row.parts.items() %}<td data-col="{{ p }}"{% if v == 0 %} class="zero"{% endif %}>{{ v }}</td>{% endfor %}
      {% for key in ("image_fraction", "person_fraction") %}{% set q = row[key] %}
      <td data-col="{{ key }}">{% if q.p50 is none %}–{% else %}{{ "%.1f"|format(q.p10) }} / <b>{{ "%.1f"|format(q.p50) }}</b> / {{ "%.1f"|format(q.p90) }}{% endif %}</td>
      {% endfor %}
      <td data-col="misses_person"{% if row.misses_person %} class="bad"{% endif %}>{{ row.misses_person }}</td></tr>
    {% endfor %}
  </table>
  {% set total = r.stats[-1] %}{% if total.part_sources %}
  <p class="tcap" id="sources-{{ r.run.label }}">Part maps made by: {% for k, v in total.part_sources.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
  {% endif %}
</div>
{% endfor %}
</div>
<p class="note">Parts and percentiles are over occluded images. "misses person": occluded images whose occluder covers none of the person.
For reference, the published samples' median occluded image fraction is 13.5% (Occ-PRCC) and 22.1% (Occ-LTCC).</p>

<h2 id="plots">2. Plots</h2>
<div class="plots">
{% for p in plots %}
<figure><img src="{{ p.src }}" width="{{ p.w }}" height="{{ p.h }}" alt="{{ p.title }}"><figcaption>{{ p.caption }}</figcaption></figure>
{% endfor %}
</div>

<h2 id="samples">3. Samples per split and body part</h2>
<p class="note">Up to {{ samples }} occluded images per split and part covered, chosen reproducibly (SHA-1 of seed {{ seed }} and the path).
Each sample: <b>original</b> | <b>part map</b> blended on the original | <b>occluded</b>{% if paired %} by {{ runs[0].run.label }} | <b>occluded</b> by {{ runs[1].run.label }} (same image){% endif %}.
Hover an image for its path.</p>
<p class="legend">{% for p in legend %}<span><i class="swatch" style="background: {{ p.colour }}"></i>{{ p.label }}</span>{% endfor %}</p>
{% for g in grids %}
{% if grids|length > 1 %}<h3><span class="run-tag" style="background: {{ g.run.colour }}">{{ g.run.label }}</span> {{ g.run.root.name }}</h3>{% endif %}
{% if g.run.splits|length > max_grid_splits %}<p class="note">Grids for the {{ max_grid_splits }} largest of {{ g.run.splits|length }} splits.</p>{% endif %}
{% for s in g.grid %}
<h3>{{ s.split }} <span class="muted">({{ s.occluded }} of {{ s.images }} images occluded)</span></h3>
<table class="grid" id="grid-{{ g.run.label }}-{{ s.split }}">
  {% for row in s.parts %}
  <tr><th class="part"><i class="swatch" style="background: {{ row.colour }}"></i>{{ row.label }}<br><span class="muted">{{ row.count }} image{{ "" if row.count == 1 else "s" }}</span></th>
    <td><div class="cells">
    {% if not row.cells %}<span class="empty">no image of this split had this part drawn</span>{% endif %}
    {% for c in row.cells %}
    <div class="cell" title="{{ c.relpath }}">
      <div class="trip">
        {% for slot in [c.original, c.overlay] + c.occluded %}
        {% set i = loop.index0 %}
        <div class="slot{% if i >= 2 and i == loop.length - 1 and loop.length > 3 %} gap{% endif %}">
          {% if slot.missing %}<div class="missing">{{ slot.missing }}</div>
          {% else %}<img src="{{ slot.src }}" width="{{ slot.w }}" height="{{ slot.h }}" alt="{{ c.name }}" title="{{ c.relpath }}">
            {% if paired and i >= 2 %}<span class="badge">{{ runs[i - 2].run.label }}</span>{% endif %}
          {% endif %}
        </div>
        {% endfor %}
      </div>
      {% set notes = [c.overlay.note] if c.overlay.note else [] %}
      <div class="cap"><code>{{ c.name }}</code><br>{{ c.captions|join(" · ") }}{% for n in notes %}<br><span class="muted">{{ n }}</span>{% endfor %}</div>
    </div>
    {% endfor %}
    </div></td>
  </tr>
  {% endfor %}
</table>
{% endfor %}
{% endfor %}

<h2 id="skipped">4. Skipped images: no person found, errors</h2>
<p class="note">These images were copied unchanged. Listed: up to {{ max_listed }} of each kind, chosen reproducibly; all are in <code>manifest.csv</code> with their reason.</p>
<div class="side">
{% for r in runs %}
<div class="col">
{% for s in r.skipped %}
<section id="{{ s.status }}-{{ r.run.label }}" class="skipped" data-status="{{ s.status }}" data-total="{{ s.total }}">
  <h3>{% if runs|length > 1 %}<span class="run-tag" style="background: {{ r.run.colour }}">{{ r.run.label }}</span> {% endif %}{{ s.title }}: {{ s.total }} image{{ "" if s.total == 1 else "s" }}{% if s.total > s["items"]|length %} <span class="muted">(showing {{ s["items"]|length }})</span>{% endif %}</h3>
  {% if s.total %}
  <table class="reasons"><tr><th>reason</th><th>images</th></tr>
    {% for reason, n in s.reasons %}<tr><td>{{ reason }}</td><td>{{ n }}</td></tr>{% endfor %}
    {% if s.more_reasons %}<tr><td class="muted">{{ s.more_reasons }} other reasons</td><td></td></tr>{% endif %}
  </table>
  <div class="cards">
  {% for it in s["items"] %}
    <div class="card" title="{{ it.relpath }}">
      <div class="slot">{% if it.img.missing %}<div class="missing">{{ it.img.missing }}</div>{% else %}<img src="{{ it.img.src }}" width="{{ it.img.w }}" height="{{ it.img.h }}" alt="{{ it.relpath }}">{% endif %}</div>
      <div class="txt">{% if it.folder %}<code class="muted">{{ it.folder }}/</code><br>{% endif %}<code>{{ it.name }}</code><br><span class="reason">{{ it.reason }}</span></div>
    </div>
  {% endfor %}
  </div>
  {% else %}<p class="empty">none</p>{% endif %}
</section>
{% endfor %}
</div>
{% endfor %}
</div>
</body>
</html>
"""


# -- command line --------------------------------------------------------------------------
@click.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out2", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--html", "html", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The page to write, e.g. report/index.html; its images go to report/index_assets/.")
@click.option("--samples", type=click.IntRange(0, 50), default=4, show_default=True,
              help="Sampled images per split and body part.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the reproducible sampling.")
@click.option("--max-listed", type=click.IntRange(0), default=40, show_default=True,
              help="Most no_person and error images shown (each); all are counted.")
def report(out, out2, html, samples, seed, max_listed):
    """Write a visual report of a generated dataset OUT (or of OUT and OUT2 side by side).

    The page shows statistics per split, plots of the parts drawn and of the occluded fractions
    (with the published samples' medians), sample grids (original | part map | occluded) per split
    and body part, and the images with no person or an error, with their reasons.

    \b
    Examples:
      occreid report /data/occ_prcc --html report/index.html
      occreid report /data/occ_prcc /data/occ_prcc_rect --html compare/index.html
    """
    try:
        res = write_report([out] + ([out2] if out2 else []), html, samples_per_cell=samples, seed=seed,
                           max_listed=max_listed)
    except ReportError as exc:
        raise _Refused(str(exc)) from None
    click.echo(f"report written to {res.html} ({res.files} images in {res.assets.name}/, "
               f"{res.bytes / 1e6:.2f} MB in all) in {res.seconds:.1f} s")
