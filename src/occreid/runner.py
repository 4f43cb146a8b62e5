"""Runner: reads the layout, plans the work, runs it on worker processes, resumes, reports.

Each worker process builds one parser and handles chunks of records: read bytes -> decode ->
parse (or reuse a saved part map) -> occlude with the image's own seeded generator -> encode ->
write atomically. The main process appends each finished chunk's rows to the journal, so a run
that is killed resumes where it stopped, and because every image depends only on (seed, its
path, its bytes) the resumed output is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__
from .images import ImageError, decode, encode
from .layout import LAYOUTS, Dataset, Layout, Record, loader_hazards, read_dataset
from .occlusion import OCCLUDED, Occluder, OcclusionParams, image_rng
from .stats import summarize
from .writer import Journal, ManifestRow, OutputTree, load_part_map, write_json, write_manifest

FORMAT_VERSION = 1


class RunError(RuntimeError):
    """The run cannot start as asked (paths, parameters); the message says what to do."""


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class GenerateConfig:
    """One generate run. Fields in ``fingerprint()`` decide the output bytes; the others don't."""

    input: Path
    output: Path
    layout: str | None = None
    seed: int = 0
    workers: int = 1
    parser: str = "mediapipe"
    parser_options: dict = field(default_factory=dict)
    occlusion: OcclusionParams = field(default_factory=OcclusionParams)
    preset: str = "default"  # recorded only: ``occlusion`` holds the preset's parameters
    splits: tuple[str, ...] | None = None  # occlude only these roles (train/query/gallery) or splits
    fraction: float = 1.0  # occlude this fraction of the selected images (drawn per image)
    jpeg_quality: int | None = None  # None: keep the source's own quantisation tables
    save_parts: bool = False
    save_masks: bool = False
    parts_from: Path | None = None
    overwrite: bool = False
    chunk_size: int = 8

    def fingerprint(self, layout: str) -> dict:
        opts = {k: str(v) for k, v in sorted(self.parser_options.items()) if k in ("checkpoint", "input_size")}
        return {
            "format_version": FORMAT_VERSION,
            "layout": layout,
            "seed": self.seed,
            "parser": self.parser,
            "parser_options": opts,
            "occlusion": self.occlusion.as_dict(),
            "preset": self.preset,
            "splits": sorted(self.splits) if self.splits else "all",
            "fraction": self.fraction,
            "jpeg_quality": "keep" if self.jpeg_quality is None else self.jpeg_quality,
            "save_parts": self.save_parts,
            "save_masks": self.save_masks,
        }


@dataclass
class RunResult:
    rows: list[dict]
    summary: dict
    warnings: list[str]
    skipped: int  # images already finished by an earlier run
    copied: int  # other files copied unchanged

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.rows)


# -- worker side ---------------------------------------------------------------------------
class _Worker:
    """What one process holds: the config, its parser (built on first use) and the occluder."""

    def __init__(self, config: GenerateConfig):
        self.config = config
        self.tree = OutputTree(config.output)
        self.occluder = Occluder(config.occlusion)
        self.parts_sources = [self.tree] + ([OutputTree(config.parts_from)] if config.parts_from else [])
        self._parser = None

    @property
    def parser(self):
        if self._parser is None:
            from .parser import make_parser

            options = dict(self.config.parser_options)
            if self.config.parser == "schp" and self.config.workers > 1:
                options.setdefault("threads", max(1, default_workers() // self.config.workers))
            self._parser = make_parser(self.config.parser, **options)
        return self._parser

    def _row(self, rec: Record, status: str, reason: str = "", **extra) -> dict:
        c, o = self.config, self.config.occlusion
        row = ManifestRow(
            relpath=rec.relpath, split=rec.split, pid=rec.pid, camera=rec.camera, clothes=rec.clothes,
            status=status, reason=reason, part=extra.get("part", ""), preset=c.preset, part_choice=o.part_choice,
            image_fraction=extra.get("image_fraction"), person_fraction=extra.get("person_fraction"),
            width=extra.get("width"), height=extra.get("height"), parser=c.parser, seed=c.seed,
            pool_levels=o.pool_levels, pool_kernel=o.pool_kernel, threshold=o.threshold, fill=o.fill,
        )
        return row.to_csv()

    def _cached_parts(self, rec: Record, digest: str):
        for source in self.parts_sources:
            found = load_part_map(source.part_path(rec.relpath), self.config.parser, digest)
            if found is not None:
                return found
        return None

    def process(self, records: list[Record], layout: str) -> list[dict]:
        cfg, tree = self.config, self.tree
        rows: dict[str, dict] = {}
        pending = []  # (record, bytes, decoded, digest, cached parse or None)
        roles = LAYOUTS[layout]()
        for rec in records:
            src = cfg.input / rec.relpath
            why_not = not_selected(cfg, roles, rec)
            if why_not:
                try:
                    tree.copy_file(src, rec.relpath)
                    rows[rec.relpath] = self._row(rec, "not_selected", why_not)
                except OSError as exc:
                    rows[rec.relpath] = self._row(rec, "error", f"cannot read: {exc.strerror or exc}")
                continue
            try:
                data = src.read_bytes()
            except OSError as exc:
                rows[rec.relpath] = self._row(rec, "error", f"cannot read: {exc.strerror or exc}")
                continue
            try:
                dec = decode(data)
            except ImageError as exc:
                tree.write_bytes(tree.image_path(rec.relpath), data)  # keep the file, unchanged
                rows[rec.relpath] = self._row(rec, "error", str(exc))
                continue
            digest = hashlib.sha1(data).hexdigest()
            pending.append((rec, data, dec, digest, self._cached_parts(rec, digest)))

        to_parse = [p for p in pending if p[4] is None]
        parsed = {}
        if to_parse:
            try:
                results = self.parser.parse_batch([p[2].rgb for p in to_parse])
            except Exception:  # one bad image must not sink its chunk: retry one at a time
                results = []
                for p in to_parse:
                    try:
                        results.append(self.parser.parse(p[2].rgb))
                    except Exception as exc:  # noqa: BLE001 - recorded in the manifest
                        results.append(exc)
            for p, res in zip(to_parse, results):
                parsed[p[0].relpath] = res

        for rec, data, dec, digest, cached in pending:
            w, h = dec.size
            if cached is not None:
                parts, reason = cached
            else:
                res = parsed[rec.relpath]
                if isinstance(res, Exception):
                    tree.write_bytes(tree.image_path(rec.relpath), data)
                    rows[rec.relpath] = self._row(rec, "error", f"parser failed: {type(res).__name__}: {res}", width=w, height=h)
                    continue
                parts, reason = res.parts, res.reason
                if cfg.save_parts:
                    tree.save_part_map(rec.relpath, parts, (h, w), cfg.parser, reason, digest)
            if parts is None:
                tree.write_bytes(tree.image_path(rec.relpath), data)
                rows[rec.relpath] = self._row(rec, "no_person", reason or "no person", width=w, height=h)
                if cfg.save_masks:
                    tree.save_mask(rec.relpath, dec.rgb[..., 0] < 0)
                continue
            occ = self.occluder.plan(parts, image_rng(cfg.seed, rec.relpath))
            if occ.status == OCCLUDED:
                pixels = self.occluder.apply(dec.pixels, occ)
                tree.write_bytes(tree.image_path(rec.relpath), encode(dec, pixels, cfg.jpeg_quality))
            else:
                tree.write_bytes(tree.image_path(rec.relpath), data)
            if cfg.save_masks:
                tree.save_mask(rec.relpath, occ.mask)
            rows[rec.relpath] = self._row(
                rec, occ.status, occ.reason, part=occ.part_name, image_fraction=occ.image_fraction,
                person_fraction=occ.person_fraction, width=w, height=h,
            )
        return [rows[r.relpath] for r in records]


_WORKER: _Worker | None = None


def _init_worker(config: GenerateConfig) -> None:
    global _WORKER
    _WORKER = _Worker(config)


def _work(job: tuple[list[Record], str]) -> list[dict]:
    return _WORKER.process(*job)


def not_selected(cfg: GenerateConfig, layout: Layout, rec: Record) -> str:
    """Why the split policy leaves this image unoccluded ('' when it is to be occluded)."""
    if cfg.splits:
        role = layout.role(rec)
        if rec.split not in cfg.splits and role not in cfg.splits:
            return f"split policy: only {', '.join(cfg.splits)} occluded ({rec.split} is {role or 'unassigned'})"
    if cfg.fraction < 1.0:
        u = image_rng(cfg.seed, "select:" + rec.relpath).random()
        if u >= cfg.fraction:
            return f"split policy: {cfg.fraction:.0%} of each split occluded, this image not drawn"
    return ""


# -- main side -----------------------------------------------------------------------------
def _check_paths(cfg: GenerateConfig) -> None:
    src, dst = cfg.input.resolve(), cfg.output.resolve()
    if src == dst:
        raise RunError(f"--out is the input folder ({src}); occreid never writes into its input. Choose another --out.")
    if dst.is_relative_to(src):
        raise RunError(f"--out ({dst}) is inside the input ({src}); occreid never writes into its input. Choose a folder outside it.")
    if src.is_relative_to(dst):
        raise RunError(f"the input ({src}) is inside --out ({dst}); choose an output folder that does not contain the input.")


def _prepare_output(cfg: GenerateConfig, tree: OutputTree, fingerprint: dict) -> bool:
    """Check or create the run state; True when an earlier run's journal may be resumed."""
    if tree.run_file.exists():
        try:
            previous = json.loads(tree.run_file.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            previous = None
        if previous == fingerprint:
            return not cfg.overwrite
        if not cfg.overwrite:
            diffs = [k for k in sorted(set(fingerprint) | set(previous or {})) if (previous or {}).get(k) != fingerprint.get(k)]
            detail = "; ".join(f"{k}: was {(previous or {}).get(k)!r}, now {fingerprint.get(k)!r}" for k in diffs)
            raise RunError(
                f"{cfg.output} holds an occreid output made with other parameters ({detail}). "
                "Rerun with --overwrite to replace it, or choose another --out."
            )
    elif cfg.output.exists() and any(cfg.output.iterdir()) and not cfg.overwrite:
        raise RunError(f"{cfg.output} exists, is not empty and is not an occreid output; use --overwrite to write into it anyway, or choose another --out.")
    return False


def plan_chunks(records: list[Record], size: int) -> list[list[Record]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def generate(cfg: GenerateConfig, progress=None, dataset: Dataset | None = None) -> RunResult:
    """Make the occluded twin of ``cfg.input`` under ``cfg.output``.

    ``progress`` is called as ``progress(total=..., advance=...)`` (see the CLI's rich bar).
    """
    cfg = replace(cfg, input=Path(cfg.input), output=Path(cfg.output))
    if not 0.0 < cfg.fraction <= 1.0:
        raise RunError(f"fraction must be in (0, 1], got {cfg.fraction}")
    _check_paths(cfg)
    ds = dataset or read_dataset(cfg.input, cfg.layout)
    tree = OutputTree(cfg.output)
    fingerprint = cfg.fingerprint(ds.layout)
    resume = _prepare_output(cfg, tree, fingerprint)
    warnings = loader_hazards(ds.layout, cfg.output, ds.records)

    tree.state.mkdir(parents=True, exist_ok=True)
    tree.clear_tmp()
    write_json(tree, tree.run_file, {"fingerprint": fingerprint, "occreid": __version__, "input": str(cfg.input.resolve())})
    journal = Journal(tree.journal_file)
    done = journal.read() if resume else {}
    wanted = {r.relpath for r in ds.records}
    finished = {
        rel: row for rel, row in done.items()
        if rel in wanted and row["status"] != "error" and tree.image_path(rel).exists()
    }
    todo = [r for r in ds.records if r.relpath not in finished]

    copied = 0
    for rel in ds.other_files:
        src, dst = cfg.input / rel, tree.root / rel
        st = src.stat()
        if dst.exists() and dst.stat().st_size == st.st_size and int(dst.stat().st_mtime) == int(st.st_mtime):
            continue
        tree.copy_file(src, rel)
        copied += 1

    journal.open(reset=not resume)
    rows = dict(finished)
    chunks = plan_chunks(todo, cfg.chunk_size)
    if progress:
        progress(total=len(ds.records), advance=len(finished))
    try:
        if cfg.workers <= 1 or len(chunks) <= 1:
            worker = _Worker(cfg)
            results = (worker.process(c, ds.layout) for c in chunks)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(min(cfg.workers, len(chunks)), _init_worker, (cfg,))
            results = pool.imap_unordered(_work, [(c, ds.layout) for c in chunks])
        for chunk_rows in results:
            journal.append(chunk_rows)
            for row in chunk_rows:
                rows[row["relpath"]] = row
            if progress:
                progress(advance=len(chunk_rows))
        if pool is not None:
            pool.close()
            pool.join()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        journal.close()

    final = [rows[r.relpath] for r in ds.records]
    write_manifest(tree, final)
    summary = summarize(final)
    write_json(tree, tree.summary_file, {"splits": summary, "other_files_copied": len(ds.other_files), "layout": ds.layout, "warnings": warnings})
    tree.clear_tmp()
    return RunResult(rows=final, summary=summary, warnings=warnings, skipped=len(finished), copied=copied)
