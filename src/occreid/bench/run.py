"""``run_bench``: the grid made, embedded and scored, cell by cell, resumable.

Each cell is made in this process by generate's own ``Worker`` (read, reuse the saved part map,
occlude with the image's seeded generator, encode, write) into ``DIR/_work``, with the parameters
``occreid generate --parts-from RUN --target LO HI --seed SEED`` would use; body-part rows swap in
a ``PinnedOccluder``. No parser is built: every image the grid occludes must have its part map in
RUN, which is checked before the first cell. The cell's images are embedded only where their bytes
are new (the feature cache of ``store.py``), scored with every multi-shot setting the dataset's
declaration gives, committed, and the cell's images removed.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import GenerateConfig
from ..datasets import read_dataset
from ..evaluation.protocols import FeatureTable, evaluation_records, settings
from ..plan import RunPlan
from ..saved import RunFileError, part_map_path, read_part_map, read_run
from ..status import Status
from ..worker import Worker
from .features import Embedder
from .grid import CLEAN, PROTOCOLS, BenchError, Cell, Severity, cell_params, grid_cells, occluder_for
from .scoring import METRICS, score
from .store import BenchStore, clear_work, prepare_out
from .summary import summarize

#: Bumped when a cell's figures would change for the same inputs (stored cells are then redone).
BENCH_VERSION = 1
_CHUNK = 64


@dataclass(frozen=True)
class BenchConfig:
    """One bench: the dataset, the run whose part maps it reuses, the output folder and the grid."""

    dataset: Path
    parts_from: Path
    out: Path
    parts: tuple[str, ...]
    severities: tuple[Severity, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    protocol: str = "query"
    layout: str | None = None


@dataclass
class BenchResult:
    """The report (the JSON's content) and what this call did: cells scored now and kept from an
    earlier call, images embedded now, seconds."""

    report: dict
    computed: int
    kept: int
    embedded: int
    seconds: float


class _NoParser:
    """Stands in for the parser: the bench reuses saved part maps only (checked before any cell)."""

    def parse(self, rgb):
        raise RuntimeError("no saved part map for this image (the bench never parses)")

    def parse_batch(self, images):
        raise RuntimeError("no saved part map for this image (the bench never parses)")


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _check(cfg: BenchConfig) -> None:
    if cfg.protocol not in PROTOCOLS:
        raise BenchError(f"--occlude must be one of {', '.join(PROTOCOLS)}, not {cfg.protocol!r}.")
    if not cfg.parts or not cfg.severities or not cfg.seeds:
        raise BenchError("the grid is empty: give at least one part, one severity and one seed.")
    if any(not 0 <= s < 2**32 for s in cfg.seeds):
        raise BenchError("seeds must lie in 0..2**32-1.")


def run_bench(cfg: BenchConfig, embedder: Embedder, progress: Callable[..., None] | None = None,
              after_cell: Callable[[Cell], None] | None = None) -> BenchResult:
    """Make, embed and score every cell of ``cfg``'s grid (cells already in ``DIR`` are kept).

    ``progress(total=..., advance=...)`` follows the cells; ``after_cell(cell)`` is called once a
    cell is committed (tests interrupt a bench there). Raises BenchError, LayoutError,
    ProtocolError (configuration) before the first cell, OSError when the output cannot be written.
    """
    start = time.perf_counter()
    _check(cfg)
    ds = read_dataset(cfg.dataset, cfg.layout)
    chosen = settings(ds, single_shot_repeats=0)
    records = evaluation_records(ds)
    query = set().union(*({r.relpath for r in s.query} for s in chosen))
    occluded = [r for r in records if cfg.protocol == "both" or r.relpath in query]
    try:
        run = read_run(cfg.parts_from)
    except RunFileError as exc:
        raise BenchError(f"--parts-from {cfg.parts_from}: {exc}") from None
    parser = str(run.fingerprint.get("parser", ""))
    digests = {r.relpath: _sha1(Path(cfg.dataset) / r.relpath) for r in records}
    missing = [r.relpath for r in occluded
               if read_part_map(part_map_path(cfg.parts_from, r.relpath), parser, digests[r.relpath]) is None]
    if missing:
        raise BenchError(f"--parts-from {cfg.parts_from} has no usable part map for {len(missing)} of {len(occluded)} "
                         f"images the grid occludes (e.g. {missing[0]}); make them with occreid generate "
                         f"{cfg.dataset} --save-parts --out RUN on these very images.")
    out = prepare_out(cfg.out, {"the dataset": cfg.dataset, "--parts-from": cfg.parts_from})
    store = BenchStore(out)
    try:
        return _run(cfg, ds, chosen, records, occluded, digests, parser, out, store, embedder, progress, after_cell,
                    start)
    finally:
        store.close()


def _run(cfg, ds, chosen, records, occluded, digests, parser, out, store, embedder, progress, after_cell, start):
    tree = hashlib.sha256("".join(f"{r}\0{d}\n" for r, d in sorted(digests.items())).encode()).hexdigest()
    context = {"bench": BENCH_VERSION, "layout": ds.layout, "tree": tree, "protocol": cfg.protocol,
               "model": embedder.key, "parts_from": str(Path(cfg.parts_from).resolve()), "parser": parser}
    cells = grid_cells(cfg.parts, cfg.severities, cfg.seeds)
    done = {c: store.cell(c.key(context)) for c in cells}
    kept = sum(v is not None for v in done.values())
    if progress:
        progress(total=len(cells), advance=kept)
    work = clear_work(out)
    embedded = 0
    computed = 0
    for cell in cells:
        if done[cell] is not None:
            continue
        if cell.part == CLEAN:
            body, n = _score_cell(chosen, records, dict(digests), {}, embedder, store, cfg.dataset, None)
            body.update(part=CLEAN, severity=None, seed=None)
        else:
            body, n = _make_cell(cfg, ds, cell, chosen, records, occluded, digests, parser, work, embedder, store)
        embedded += n
        computed += 1
        store.put_cell(cell.key(context), body)
        done[cell] = body
        if progress:
            progress(advance=1)
        if after_cell is not None:
            after_cell(cell)
    shutil.rmtree(work, ignore_errors=True)
    report = _report(cfg, ds, chosen, embedder, cells, done)
    return BenchResult(report, computed, kept, embedded, time.perf_counter() - start)


def _make_cell(cfg, ds, cell, chosen, records, occluded, digests, parser, work, embedder, store):
    folder = work / hashlib.sha1(cell.name.encode()).hexdigest()[:16]
    gen = GenerateConfig(input=Path(cfg.dataset), output=folder, layout=ds.layout, seed=cell.seed, parser=parser,
                         occlusion=cell_params(cell.severity), parts_from=Path(cfg.parts_from))
    worker = Worker(RunPlan.build(gen, ds.layout), parser=_NoParser())
    worker.occluder = occluder_for(cell.part, cell.severity)
    cell_digests, paths, rows = dict(digests), {}, []
    for i in range(0, len(occluded), _CHUNK):
        for entry in worker.process(occluded[i:i + _CHUNK]):
            rows.append(entry.row)
            if "image" in entry.outputs:
                cell_digests[entry.relpath] = entry.outputs["image"]
                paths[entry.relpath] = folder / entry.relpath
    body, n = _score_cell(chosen, records, cell_digests, paths, embedder, store, cfg.dataset, folder)
    statuses = Counter(r["status"] for r in rows)
    person = [float(r["person_fraction"] or 0.0) for r in rows if r["status"] in (Status.OCCLUDED, Status.PART_ABSENT)]
    body.update(part=cell.part, severity=cell.severity.label, seed=cell.seed,
                occluded_share=round(100 * float(np.mean(person)), 4) if person else None,
                images_occluded=round(100 * statuses.get(Status.OCCLUDED, 0) / max(1, len(rows)), 4),
                statuses=dict(sorted(statuses.items())))
    shutil.rmtree(folder, ignore_errors=True)
    return body, n


def _score_cell(chosen, records, cell_digests, paths, embedder, store, dataset, folder):
    """Features of the cell's images (from the cache where their bytes were seen before) and its scores."""
    cached = store.features(embedder.key, list(cell_digests.values()))
    new, seen = [], set()
    for r in records:
        d = cell_digests[r.relpath]
        if d not in cached and d not in seen:
            seen.add(d)
            new.append((d, r.relpath, paths.get(r.relpath, Path(dataset) / r.relpath)))
    if new:
        feats = embedder.embed([(rel, p) for _, rel, p in new])
        fresh = {d: np.asarray(f, np.float32) for (d, _, _), f in zip(new, feats)}
        store.put_features(embedder.key, fresh)
        cached.update(fresh)
    table = FeatureTable([r.relpath for r in records], np.stack([cached[cell_digests[r.relpath]] for r in records]))
    return {"scores": score(chosen, table), "embedded": len(new)}, len(new)


def _report(cfg, ds, chosen, embedder, cells, done) -> dict:
    clean = done[cells[0]]["scores"]
    rows = []
    for cell in cells[1:]:
        body = done[cell]
        for key, m in body["scores"].items():
            rows.append({"part": cell.part, "severity": cell.severity.label, "seed": cell.seed, "setting": key,
                         **{k: m[k] for k in METRICS}, "occluded_share": body.get("occluded_share"),
                         "images_occluded": body.get("images_occluded")})
    grid = {"parts": list(cfg.parts), "severities": [s.label for s in cfg.severities], "seeds": list(cfg.seeds)}
    return {
        "occreid_bench": BENCH_VERSION,
        "dataset": str(cfg.dataset), "layout": ds.layout, "parts_from": str(cfg.parts_from),
        "model": embedder.name, "model_key": embedder.key, "protocol": cfg.protocol, "grid": grid,
        "settings": {s.key: s.label for s in chosen},
        "clean": {k: {m: v[m] for m in METRICS} for k, v in clean.items()},
        "cells": rows,
        "summary": summarize({k: {m: v[m] for m in METRICS} for k, v in clean.items()}, rows, grid),
    }
