"""Runner: checks everything, plans the work, runs it on worker processes, resumes, reports.

``generate`` goes through named phases, each a function below:

1. checks (``_checked``, ``preflight.py``): the options, the side inputs, the paths, the split
   names against the layout; the parser built once in the main process, its checkpoint checked;
2. the plan (``plan.RunPlan``): the facts every process works from, decided once;
3. the output: links and occreid's own folders under --out (containment), its writability, then
   the run state (``resume.py``: resume, refuse another run's output, or start over);
4. inventory (``_inventory``): this process's share of the inputs, what an earlier run left that
   verifies, what is gone, the entries a layout cannot read; then free space;
5. other files copied (``_copy_others``);
6. occlusion (``_occlude``): chunks of records on an engine's workers (``worker.py``: read ->
   decode -> parse or reuse a saved part map -> occlude -> encode -> write atomically), each
   finished chunk committed to the run state (SQLite, ``state.py``) as it comes back;
7. export (``_export``): the manifest, or a shard's share of it and the merge when it is the last.

A resume verifies every input's fingerprint and every output's hash before keeping it, so an
interrupted run, rerun, ends byte-identical to an uninterrupted one. Who runs the chunks is an
engine (``engines.py``: local processes or Ray actors); which inputs a process takes is all of them,
or with ``--shard I/N`` its share (``shards.py``). Neither changes a byte of the output.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, preflight
from . import shards as sharding
from .config import (  # noqa: F401  (FORMAT_VERSION, SEED_MAX re-exported)
    FORMAT_VERSION,
    SEED_MAX,
    GenerateConfig,
    RunError,
    check_side_inputs,
)
from .datasets import DATASETS, Dataset, Record, loader_hazards, read_dataset
from .engines import EngineError, WorkerLost, make_engine, open_session
from .inputs import in_state_dir, layout_record, odd_entries, os_reason, sha1_file
from .occlusion import DONOR_SHAPES
from .plan import RunPlan
from .resume import open_run_state
from .saved import write_run_file
from .shards import Shard, ShardError
from .state import COPY, IMAGE, Entry, RunState, StateError, StateFullError
from .stats import summarize
from .status import Status
from .worker import Worker
from .writer import ManifestRow, OutputError, UsableCounts, typed_rows

__all__ = ["FORMAT_VERSION", "EngineError", "GenerateConfig", "OutputError", "RunError", "RunResult", "ShardError",
           "StateError", "WorkerLost", "generate"]


@dataclass
class RunResult(UsableCounts):
    """What a run did. For a shard, ``rows``, ``summary`` and the counts are the shard's own;
    ``merged`` says whether it was the last shard and wrote the whole output's manifest."""

    rows: list[ManifestRow]
    summary: dict
    warnings: list[str]
    skipped: int  # images already finished by an earlier run (verified)
    copied: int  # other files copied unchanged
    other_files: list[dict] = field(default_factory=list)  # every other input file: relpath, action, reason
    removed: int = 0  # outputs of inputs that are gone, removed by this run
    redone: int = 0  # images an earlier run had finished but that did not verify (input changed, output damaged)
    shard: Shard | None = None
    merged: bool = False  # a shard that found every other shard finished and merged the output
    waiting: list[int] = field(default_factory=list)  # a shard: the shards not finished when it ended
    notes: list[str] = field(default_factory=list)  # lines for the user (an earlier, killed run taken over)


@dataclass
class _Inventory:
    """Phase 4's findings: this process's share of the inputs and what an earlier run left of it."""

    records: list[Record]  # the images this process does (all, or its shard's), in the dataset's order
    other_files: list[str]  # the other files it copies
    entries: dict[str, Entry]  # the run state's rows (empty unless resuming)
    finished: dict[str, Entry]  # images an earlier run finished that verify: kept
    todo: list[Record]  # the images to do now
    gone: list[str]  # inputs that are gone (their outputs removed)
    redone: int  # images an earlier run finished that did not verify
    odd_rows: list[dict]  # error rows of entries a layout names but cannot read as files
    odd_others: list[dict]  # other_files rows of the unreadable entries that are not images
    odd_names: list[str]  # every unreadable entry (all shards': the listing digest)


def plan_chunks(records: list[Record], size: int) -> list[list[Record]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


#: The largest chunk of a run that reuses saved part maps (``--parts-from``).
REUSE_CHUNK = 32


def _chunk_size(cfg: GenerateConfig, n_todo: int) -> int:
    """Images per chunk. Reusing saved part maps costs about a millisecond an image, so chunks of
    ``cfg.chunk_size`` would spend much of it on hand-offs and per-chunk commits: such a run takes
    chunks of up to ``REUSE_CHUNK``, still at least eight per worker so the work stays balanced.
    No output byte depends on the chunk size; a killed run still loses at most the chunks in flight."""
    if cfg.parts_from is None:
        return cfg.chunk_size
    return max(cfg.chunk_size, min(REUSE_CHUNK, n_todo // (max(1, cfg.workers) * 8)))


def _verified(plan: RunPlan, entry: Entry | None) -> bool:
    """True when an earlier run's result for this input can be kept: same parameters, input
    unchanged (size and mtime, else its content hash), every output hashing to what was written."""
    if entry is None or entry.params != plan.params or entry.kind != IMAGE or entry.row is None:
        return False
    if entry.row.get("status") == Status.ERROR or entry.row.get("relpath") != entry.relpath:
        return False
    src = plan.config.input / entry.relpath
    try:
        st = os.stat(src)
        if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
            if st.st_size != entry.size or sha1_file(src) != entry.sha1:
                return False
        outputs = entry.outputs.items()
        if not all(_holds(plan.tree.output_path(kind, entry.relpath), digest) for kind, digest in outputs):
            return False
    except OSError:
        return False
    return "image" in entry.outputs


def _holds(path: Path, digest: str | None) -> bool:
    """True when ``path`` is a regular file (a link is not an output occreid wrote) whose bytes hash
    to ``digest``."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode) and sha1_file(path) == digest
    except OSError:
        return False


def _copy_other(plan: RunPlan, rel: str, entry: Entry | None) -> tuple[Entry | None, dict, bool]:
    """Copy one non-image file unchanged (bytes and mtime), unless the earlier copy verifies.
    Returns (state entry or None, other_files row, whether it was copied now)."""
    tree = plan.tree
    src, dst = plan.config.input / rel, tree.image_path(rel)
    try:
        st = os.stat(src)
        if not stat.S_ISREG(st.st_mode):  # never open a FIFO or device (it could block or never end)
            return None, {"relpath": rel, "action": "skipped", "reason": "not a regular file"}, False
        if entry is not None and entry.kind == COPY and (entry.size, entry.mtime_ns) == (st.st_size, st.st_mtime_ns) \
                and _holds(dst, entry.outputs.get("copy")):
            return entry, {"relpath": rel, "action": "copied", "reason": ""}, False
        digest, st = tree.copy_file(src, dst)
    except OSError as exc:
        on_output = bool(exc.filename) and str(exc.filename).startswith(str(tree.root))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or (
                on_output and exc.errno in (errno.EACCES, errno.EPERM)):
            raise OutputError(exc.errno, f"cannot write {dst}: {exc.strerror or exc}") from None
        return None, {"relpath": rel, "action": "skipped", "reason": f"cannot copy: {os_reason(exc)}"}, False
    new = Entry(rel, COPY, st.st_size, st.st_mtime_ns, digest, plan.params, {"copy": digest}, None)
    return new, {"relpath": rel, "action": "copied", "reason": ""}, True


#: Observers of the phases (after-start, after-commit, before-export, after-shard), called in the main
#: process; empty in a run: the test doubles (tests/parsers.py) add one that kills it there (kill -9).
PHASE_HOOKS: list[Callable[[str], None]] = []


def _phase(name: str) -> None:
    for hook in PHASE_HOOKS:
        hook(name)


def generate(cfg: GenerateConfig, progress=None, dataset: Dataset | None = None) -> RunResult:
    """Make the occluded twin of ``cfg.input`` under ``cfg.output`` (with ``cfg.shard``, this
    shard's share of it; the last shard to finish merges the whole output's manifest).

    ``progress`` is called as ``progress(total=..., advance=...)`` (see the CLI's rich bar).
    Raises RunError, ShardError, EngineError or StateError (configuration: exit 2), OutputError
    (output not writable or full: exit 3, resumable) before or instead of writing anything wrong.
    """
    cfg, ds = _checked(cfg, dataset)  # 1. checks: nothing is written before they pass
    parser = preflight.prebuilt_parser(cfg)
    plan = RunPlan.build(cfg, ds.layout, ds.records)  # 2. the plan
    session = open_session(cfg)  # Ray started or joined before anything is written
    try:
        preflight.check_links(cfg, plan.tree, ds)  # 3. the output: nothing goes through a link
        preflight.make_output(cfg, plan.tree)
        state, resume = open_run_state(plan, {r.relpath for r in ds.records})
        try:
            result = _run(plan, ds, state, resume, parser, progress, session)
            result.notes += [state.taken_over] if state.taken_over else []
            return result
        finally:
            state.close()
    except StateFullError as exc:
        raise OutputError(exc.errno, exc.strerror) from None
    finally:
        if session is not None:
            session.close()


def _checked(cfg: GenerateConfig, dataset: Dataset | None) -> tuple[GenerateConfig, Dataset]:
    """Phase 1: the options as the run takes them, checked with the dataset read (RunError in one
    sentence before anything is written)."""
    cfg = replace(cfg, input=Path(cfg.input), output=Path(cfg.output))
    if cfg.engine == "ray":  # actors may run in another folder, or on another host with the same mounts
        cfg = replace(cfg, input=cfg.input.absolute(), output=cfg.output.absolute(),
                      parts_from=None if cfg.parts_from is None else Path(cfg.parts_from).absolute())
    preflight.check_options(cfg)
    check_side_inputs(cfg)  # objects, textures, checkpoint: before the first image
    preflight.check_paths(cfg)
    ds = dataset or read_dataset(cfg.input, cfg.layout)
    preflight.check_splits(cfg, ds)
    if cfg.per == "tracklet" and not getattr(DATASETS.get(ds.layout), "video", False):
        video = ", ".join(name for name, cls in DATASETS.items() if getattr(cls, "video", False))
        raise RunError(f"--per tracklet needs a video dataset ({video}); {ds.layout} has no tracklets.")
    if cfg.occlusion.shape in DONOR_SHAPES and not cfg.save_parts:
        cfg = replace(cfg, save_parts=True)  # donors are cut out by their part maps: keep them
    if cfg.shard is not None and cfg.occlusion.shape in DONOR_SHAPES:
        preflight.check_donor_maps(cfg, ds)
    return cfg, ds


def _run(plan: RunPlan, ds: Dataset, state: RunState, resume: bool, parser, progress,
         session=None) -> RunResult:
    """Phases 4 to 7 on an opened run state."""
    cfg, tree = plan.config, plan.tree
    warnings = loader_hazards(ds.layout, cfg.output, ds.records)
    tree.clear_tmp()
    if cfg.shard is None:  # shards: the merge writes it, once every shard agrees
        write_run_file(tree, plan.fingerprint, __version__, str(cfg.input.resolve()))
    _phase("after-start")
    inv = _inventory(plan, ds, state, resume)  # 4. inventory
    needed = 0
    for r in inv.todo:
        try:
            needed += os.stat(cfg.input / r.relpath).st_size * (3 if cfg.save_parts or cfg.save_masks else 1)
        except OSError:
            pass
    preflight.free_space_check(cfg, needed)
    copied, other_rows = _copy_others(plan, state, inv, resume)  # 5. other files
    rows = _occlude(plan, ds, state, inv, parser, progress, session)  # 6. occlusion
    _phase("before-export")
    return _export(plan, ds, inv, rows, other_rows, warnings, copied)  # 7. export


def _inventory(plan: RunPlan, ds: Dataset, state: RunState, resume: bool) -> _Inventory:
    """Phase 4: this process's share, the outputs of inputs that are gone removed, the entries a
    layout cannot read, and what an earlier run finished that still verifies."""
    cfg, tree, mine = plan.config, plan.tree, plan.owns
    entries, bad = state.entries() if resume else ({}, [])
    records = [r for r in ds.records if mine(r.relpath)] if cfg.shard is not None else list(ds.records)
    other_files = [rel for rel in ds.other_files if mine(rel)]
    wanted, others = {r.relpath for r in records}, set(other_files)

    # inputs that are gone (or are no longer what they were): remove their outputs and rows
    gone = [rel for rel, e in entries.items() if rel not in (wanted if e.kind == IMAGE else others)]
    for rel in gone + bad:
        for kind in entries[rel].outputs if rel in entries else ("image", "parts", "masks"):
            tree.remove(kind, rel)
    if gone or bad:
        state.remove(gone + bad)

    # image rows for entries a layout cannot read as files (broken links, folders named like images...)
    all_wanted = {r.relpath for r in ds.records}
    listed = plan.roles.index(cfg.input) if hasattr(plan.roles, "index") else None
    odd_rows, odd_others, odd_names = [], [], []
    for rel, reason in odd_entries(cfg.input, lambda rel: layout_record(plan.roles, listed, rel) is not None):
        rec = None if in_state_dir(rel) else layout_record(plan.roles, listed, rel)  # input's _occreid/: skipped
        odd_names.append(rel)
        if not mine(rel):
            continue
        if rec is not None and rel not in all_wanted:
            odd_rows.append(plan.row(rec, Status.ERROR, reason))
        elif rec is None and rel not in others:
            odd_others.append({"relpath": rel, "action": "skipped", "reason": reason})

    finished = {rel: entries[rel] for rel in wanted if _verified(plan, entries.get(rel))}
    redone = sum(1 for rel in wanted if rel in entries and rel not in finished and _was_done(entries[rel]))
    todo = [r for r in records if r.relpath not in finished]
    return _Inventory(records, other_files, entries, finished, todo, gone, redone, odd_rows, odd_others, odd_names)


def _was_done(entry: Entry) -> bool:
    """An earlier run's result that was not an error (when it no longer verifies, it is redone)."""
    row = entry.row
    return row is not None and bool(row) and row.get("status") != Status.ERROR


def _copy_others(plan: RunPlan, state: RunState, inv: _Inventory, resume: bool) -> tuple[int, list[dict]]:
    """Phase 5: other (non-image) files copied unchanged, committed; how many now, and their rows."""
    copied, copy_entries, other_rows = 0, [], list(inv.odd_others)
    for rel in inv.other_files:
        entry, row, now = _copy_other(plan, rel, inv.entries.get(rel) if resume else None)
        other_rows.append(row)
        copied += now
        if entry is not None and now:
            copy_entries.append(entry)
    if copy_entries:
        state.commit(copy_entries)
    return copied, other_rows


def _occlude(plan: RunPlan, ds: Dataset, state: RunState, inv: _Inventory, parser, progress,
             session) -> dict[str, dict]:
    """Phase 6: the images to do, chunk by chunk on the engine (pasted shapes: after a parse phase
    over every image), each chunk committed as it comes back; every image's manifest row by relpath."""
    cfg = plan.config
    rows = {rel: _row_of(e) for rel, e in inv.finished.items()}
    chunks = plan_chunks(inv.todo, _chunk_size(cfg, len(inv.todo)))
    if progress:
        progress(total=len(inv.records), advance=len(inv.finished))
    engine = None
    try:
        engine = make_engine(cfg, functools.partial(Worker, plan), parser, len(chunks), session)
        if plan.donors is not None and inv.todo and cfg.shard is None:
            # parse phase, finished everywhere before the first draw (shards: --parts-from holds every map)
            engine.save_parts(plan_chunks(list(ds.records), cfg.chunk_size))
        for chunk_entries in engine.process(chunks):
            _drop_stale(plan, inv.entries, chunk_entries)
            state.commit(chunk_entries)
            _phase("after-commit")
            for e in chunk_entries:
                rows[e.relpath] = _row_of(e)
            if progress:
                progress(advance=len(chunk_entries))
        engine.close()
    except BaseException:
        if engine is not None:
            engine.stop()
        raise
    return rows


def _drop_stale(plan: RunPlan, earlier: dict[str, Entry], entries: list[Entry]) -> None:
    """Remove the outputs an earlier result of these images had and the new one has not."""
    for e in entries:
        old = earlier.get(e.relpath)
        for kind in old.outputs if old else {}:
            if kind not in e.outputs:
                plan.tree.remove(kind, e.relpath)


def _row_of(entry: Entry) -> dict:
    assert entry.row is not None, "a finished or processed image has its manifest row"
    return entry.row


def _export(plan: RunPlan, ds: Dataset, inv: _Inventory, rows: dict[str, dict], other_rows: list[dict],
            warnings: list[str], copied: int) -> RunResult:
    """Phase 7: the manifest, other_files.csv and summary (a shard: its share, and the merge when
    every other shard has finished)."""
    cfg, tree, shard = plan.config, plan.tree, plan.config.shard
    final = [rows[r.relpath] for r in inv.records] + inv.odd_rows
    if shard is None:
        summary, typed = sharding.export(tree, final, other_rows, ds.layout, warnings)
        tree.clear_tmp()
        return RunResult(rows=typed, summary=summary, warnings=warnings, skipped=len(inv.finished), copied=copied,
                         other_files=other_rows, removed=len(inv.gone), redone=inv.redone)
    listing = sharding.listing_digest([r.relpath for r in ds.records], list(ds.other_files), inv.odd_names)
    sharding.finish(tree, shard, final, other_rows, {
        "fingerprint": plan.fingerprint, "listing": listing, "layout": ds.layout, "warnings": warnings,
        "input": str(cfg.input.resolve()), "occreid": __version__})
    _phase("after-shard")
    waiting = sharding.pending(tree, shard.count, plan.fingerprint)
    if not waiting:  # the last shard to finish (or one of several finishing at once: same bytes) merges
        sharding.merge(cfg.output, tmp=tree.tmp)
    tree.clear_tmp()
    typed = typed_rows(final)
    return RunResult(rows=typed, summary=summarize(typed), warnings=warnings, skipped=len(inv.finished), copied=copied,
                     other_files=other_rows, removed=len(inv.gone), redone=inv.redone, shard=shard,
                     merged=not waiting, waiting=waiting)
