"""The page: what each section shows, gathered from the runs, rendered with the Jinja2 template
``templates/report.html.j2`` (autoescaped, no scripts, no external resources) and written
atomically beside its assets folder."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..console import split_label
from ..datasets import STATE_DIR
from ..errors import EXIT_OUTPUT
from ..parts import PARTS
from ..status import STATUSES, Status
from ..writer import ManifestRow, tmp_name
from .data import (
    DONOR_SHAPES,
    OBJECT_SHAPE,
    RUN_COLOURS,
    ReportError,
    Run,
    colour,
    component_order,
    load_run,
    percent,
    pretty,
    sample_rows,
)
from .plots import plots
from .thumbnails import THUMB, Assets, Images

#: Splits beyond this many (``folder`` layouts may have hundreds) get no sample grid.
MAX_GRID_SPLITS = 8
#: File in an assets folder that says the report wrote it (and may clear it).
ASSET_MARKER = ".occreid-report"
#: Status columns always shown; the others (part_absent, not_selected...) when they happen.
ALWAYS_SHOWN = (Status.OCCLUDED, Status.NO_PERSON, Status.ERROR)
#: Skipped statuses listed with their images and reasons.
LISTED = (Status.NO_PERSON, Status.ERROR)


@dataclass
class ReportResult:
    """What ``write_report`` wrote: the page, its assets folder, the number of asset files, the
    total size in bytes, and the time it took."""

    html: Path
    assets: Path
    files: int
    bytes: int
    seconds: float


def _columns(runs: list[Run]) -> dict:
    """Status columns and covered-part columns shared by the runs' tables."""
    statuses = [s for s in STATUSES if s in ALWAYS_SHOWN or any(r.summary["all"].get(s) for r in runs)]
    seen = set().union(*(r.covered() for r in runs))
    body = any(not c.startswith("rect_") for c in seen) or not seen
    parts = sorted(seen | (set(PARTS[1:]) if body else set()), key=component_order)
    return {"statuses": statuses, "parts": parts}


def _stats_rows(run: Run, statuses: list[str], parts: list[str]) -> list[dict]:
    """One row per split and ``all``: the counts of ``stats.summarize`` and the occlusion figures of
    ``stats.manifest_stats``, in the columns the runs share."""
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
            "part_sources": st["part_sources"],
        })
    return out


def _donor(run: Run, row: ManifestRow, images: Images) -> dict | None:
    """What a pasted occluder was cut from: the donor image of the input (shapes person and scene)
    or the object file's name (shape object); None for other shapes."""
    donor, shape = row.donor, row.shape
    if not donor or shape not in (*DONOR_SHAPES, OBJECT_SHAPE):
        return None
    if shape == OBJECT_SHAPE:
        return {"run": run.label, "title": f"object {donor}", "object": donor.rsplit("/", 1)[-1], "missing": ""}
    slot = images.slot("orig", f"{run.input}/{donor}", images.original(run, donor),
                       "input not found" if not run.input_ok else "donor missing")
    return {**slot, "run": run.label, "title": f"donor {donor}", "object": ""}


def _grid(runs: list[Run], images: Images, samples: int, seed: int, paired: bool, parts: list[str]) -> list[dict]:
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
                rel = r.relpath
                cover = "" if r.part == part else f" ({pretty(r.part)})"
                cell: dict[str, Any] = {
                    "relpath": rel,
                    "original": images.slot("orig", f"{base.input}/{rel}", images.original(base, rel),
                                            "input not found" if not base.input_ok else "original missing"),
                    "overlay": images.overlay(runs, rel),
                    "occluded": [images.slot("occ", f"{base.root}/{rel}", images.occluded(base, rel),
                                             "output missing")],
                    "captions": [f"{percent(r.image_fraction)} img · "
                                 f"{percent(r.person_fraction)} person{cover}"],
                    "donors": [d for d in [_donor(base, r, images)] if d],
                }
                if paired:
                    other = runs[1]
                    o = other.by_rel.get(rel)
                    cell["occluded"].append(images.slot("occ", f"{other.root}/{rel}", images.occluded(other, rel),
                                                        "not in B" if o is None else "output missing"))
                    if o is None:
                        cell["captions"].append("B: not in this run")
                    elif o.status != Status.OCCLUDED:
                        cell["captions"].append(f"B: {o.status.words}")
                    else:
                        diff = "" if o.part == r.part else f" ({pretty(o.part)})"
                        cell["captions"].append(f"B: {percent(o.image_fraction)} img{diff}")
                        cell["donors"] += [d for d in [_donor(other, o, images)] if d]
                cells.append(cell)
            parts_rows.append({"part": part, "label": pretty(part), "colour": colour(part), "count": len(group),
                               "cells": cells})
        counts = base.summary[split]
        out.append({"split": split, "occluded": counts["occluded"], "images": counts["images"], "parts": parts_rows})
    return out


def _overlay_notes(grids: list[dict]) -> str:
    """What the middle image of most samples shows (``thumbnails.OVERLAY_KINDS``: the page says it
    once, above the grids); each sample whose middle image shows something else gets its own note."""
    cells = [c for g in grids for s in g["grid"] for row in s["parts"] for c in row["cells"]]
    kinds = Counter(c["overlay"]["kind"] for c in cells)
    usual = kinds.most_common(1)[0][0] if kinds else "parts"
    for c in cells:
        note = c["overlay"]["note"]
        c["notes"] = [note] if note and c["overlay"]["kind"] != usual else []
    return usual


def _skipped(run: Run, images: Images, status: Status, max_listed: int, seed: int) -> dict:
    """The images of one skipped status: counts per reason and a reproducible sample of them."""
    rows = [r for r in run.rows if r.status == status]
    reasons = Counter(reason_kind(r.reason) for r in rows).most_common()
    listed = sorted(sample_rows(rows, max_listed, seed), key=lambda r: r.relpath)
    items = []
    for r in listed:
        rel = r.relpath
        im, key = images.occluded(run, rel), f"{run.root}/{rel}"  # the output is an unchanged copy
        if im is None and run.input_ok:
            im, key = images.original(run, rel), f"{run.input}/{rel}"
        folder, _, name = rel.rpartition("/")
        items.append({"relpath": rel, "folder": folder, "name": name, "split": r.split,
                      "reason": r.reason or "(no reason given)",
                      "img": images.slot("skip", key, im,
                                         "cannot be decoded" if status == Status.ERROR else "no image")})
    return {"status": status.value, "title": status.words, "total": len(rows), "reasons": reasons[:20],
            "more_reasons": max(0, len(reasons) - 20), "items": items}


def reason_kind(reason: str) -> str:
    """What a reason says failed, without its numbers, so that reasons count together: the text
    before " (", its numbers as "…" ("no person: presence 0.15 < 0.20" -> "no person: presence … < …")."""
    if not reason:
        return "(no reason given)"
    return _NUMBER.sub("…", reason.split(" (", 1)[0])


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _least_trusted(run: Run, images: Images, max_listed: int) -> dict:
    """The run's part maps by their quality score, the least trustworthy first (ties by relpath),
    with the map drawn on the image: where a user should look first."""
    scored = sorted((r for r in run.rows if r.part_quality is not None), key=lambda r: (r.part_quality, r.relpath))
    items = []
    for r in scored[:max_listed]:
        folder, _, name = r.relpath.rpartition("/")
        items.append({"relpath": r.relpath, "folder": folder, "name": name, "quality": r.part_quality,
                      "status": r.status.words, "part": pretty(r.part) if r.part else "",
                      "img": images.overlay([run], r.relpath)})
    values = [q for r in scored if (q := r.part_quality) is not None]
    return {"total": len(scored), "items": items,
            "below_half": sum(v < 0.5 for v in values)}


def _compare_params(runs: list[Run]) -> list[dict]:
    """The parameters table: each key once, a value per run, marked where the runs differ."""
    keys = list(dict.fromkeys(k for r in runs for k in r.params))
    return [{"key": k, "values": [r.params.get(k, "–") for r in runs],
             "differs": len({r.params.get(k, "–") for r in runs}) > 1} for k in keys]


def _check_destination(html: Path, runs: list[Run], assets: Path) -> None:
    """Refuse a page inside a dataset tree or an input, or an assets folder the report did not write."""
    target = html.resolve()
    for run in runs:
        root = run.root.resolve()
        if target.is_relative_to(root) and not target.is_relative_to(root / STATE_DIR):
            raise ReportError(f"{html} lies inside the dataset tree of {run.root}: the report would add files to "
                              f"the dataset. Write it elsewhere, or under {run.root / STATE_DIR}.")
        if run.input_ok and run.input is not None and target.is_relative_to(run.input.resolve()):
            raise ReportError(f"{html} lies inside the input {run.input}, which occreid never writes to.")
    if assets.exists() and not (assets / ASSET_MARKER).exists() and any(assets.iterdir()):
        raise ReportError(f"{assets} exists and was not written by occreid report; remove it or choose another --html.")


def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("occreid.report", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["split_label"] = split_label  # the folder layout's top level ('.') reads "(top level)"
    return env.get_template("report.html.j2")


def write_report(outputs: list[Path], html: Path, samples_per_cell: int = 4, seed: int = 0,
                 max_listed: int = 40) -> ReportResult:
    """Write ``html`` and its assets folder ``<html stem>_assets/`` beside it for one output root
    (or two, shown side by side); ReportError (one sentence) when it cannot."""
    start = time.perf_counter()
    outputs = [Path(o) for o in outputs]
    if not 1 <= len(outputs) <= 2:
        raise ReportError(f"give one output root, or two to compare (got {len(outputs)})")
    html = Path(html)
    if html.suffix.lower() not in (".html", ".htm"):
        raise ReportError(f"--html must name an .html file (got {html})")
    runs = [load_run(o, label, c) for o, label, c in zip(outputs, "AB", RUN_COLOURS, strict=False)]
    assets_dir = html.parent / f"{html.stem}_assets"
    _check_destination(html, runs, assets_dir)
    staging = tmp = None
    try:
        html.parent.mkdir(parents=True, exist_ok=True)
        staging = html.parent / f".{assets_dir.name}.{tmp_name()}"  # the new assets, swapped in when complete
        staging.mkdir()
        (staging / ASSET_MARKER).write_text("written by occreid report; rewritten on every run\n")
        tmp = html.with_name(f".{html.name}.{tmp_name()}")
        _write_page(runs, Assets(staging, assets_dir.name), samples_per_cell, seed, max_listed, tmp)
        _swap(staging, assets_dir)
        staging = None
        tmp.replace(html)
    except OSError as exc:
        raise ReportOutputError(f"cannot write the report {html}: {exc.strerror or exc}; free space or choose "
                                "another --html (an earlier report there is left as it was).") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    files = [p for p in assets_dir.iterdir() if p.is_file() and p.name != ASSET_MARKER]
    size = html.stat().st_size + sum(p.stat().st_size for p in files)
    return ReportResult(html=html, assets=assets_dir, files=len(files), bytes=size,
                        seconds=time.perf_counter() - start)


class ReportOutputError(ReportError):
    """The report's page or images cannot be written (disk full, not a folder, no permission): exit 3."""

    exit_code = EXIT_OUTPUT


def _swap(staging: Path, assets_dir: Path) -> None:
    """Put the complete new assets folder in place of the old one (two renames, then the old removed)."""
    old = None
    if assets_dir.exists() or assets_dir.is_symlink():
        old = assets_dir.with_name(f".{assets_dir.name}.old.{tmp_name()}")
        assets_dir.rename(old)
    try:
        staging.rename(assets_dir)
    except OSError:
        if old is not None:
            old.rename(assets_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_page(runs: list[Run], assets: Assets, samples_per_cell: int, seed: int, max_listed: int,
                tmp: Path) -> None:
    """Render the page into ``tmp``, writing its images through ``assets``."""
    images = Images(assets)

    paired = False
    if len(runs) == 2:
        a, b = set(runs[0].by_rel), set(runs[1].by_rel)
        paired = len(a & b) >= 0.5 * min(len(a), len(b))
    own_parts = [_columns([r])["parts"] for r in runs]  # each run's table and grid rows: its own parts
    grids: list[dict[str, Any]] = [
        {"run": runs[0], "grid": _grid(runs if paired else runs[:1], images, samples_per_cell, seed, paired,
                                       own_parts[0])}]
    if len(runs) == 2 and not paired:  # different inputs: one grid per run
        grids.append({"run": runs[1], "grid": _grid(runs[1:], images, samples_per_cell, seed, False, own_parts[1])})
    columns = _columns(runs)
    overlay = _overlay_notes(grids)
    context = {
        "runs": [{"run": r, "stats": _stats_rows(r, columns["statuses"], parts),
                  "part_columns": [{"key": p, "words": pretty(p).split(" ", 1)} for p in parts],
                  "skipped": [_skipped(r, images, s, max_listed, seed) for s in LISTED],
                  "trust": _least_trusted(r, images, max_listed)}
                 for r, parts in zip(runs, own_parts, strict=True)],
        "params": _compare_params(runs),
        "paired": paired,
        "grids": grids,
        "overlay": overlay,
        "plots": plots(runs, assets, columns["parts"]),
        "legend": [{"label": pretty(p), "colour": colour(p)} for p in PARTS[1:]],
        "status_columns": columns["statuses"],
        "samples": samples_per_cell, "seed": seed, "max_listed": max_listed, "thumb": THUMB,
        "max_grid_splits": MAX_GRID_SPLITS,
        "donors_shown": any(c["donors"] for g in grids for s in g["grid"] for row in s["parts"] for c in row["cells"]),
        "title": " vs ".join(r.root.name for r in runs),
    }
    page = _template().render(**context)
    tmp.write_text(page, encoding="utf-8", errors="replace")  # a non-UTF-8 file name shows as U+FFFD
