"""Runner: checks everything, plans the work, runs it on worker processes, resumes, reports.

Before the first image (``preflight.py``): the options, the split names against the layout, the
parser (built once in the main process, its checkpoint loaded and checked), links and occreid's own
folders under --out (containment), the output folder's writability and free space; then the run
state. Each worker process then handles chunks of records (``worker.py``:
read -> decode -> parse or reuse a saved part map -> occlude -> encode -> write atomically); the
options are ``config.py``'s ``GenerateConfig``. The main process commits each finished chunk to the run state
(SQLite, ``state.py``); a resume verifies every input's fingerprint and every output's hash
before keeping it, so an interrupted run, rerun, ends byte-identical to an uninterrupted one.

Who runs the chunks is an engine (``engines.py``: local processes or Ray actors); which inputs a
process takes is all of them, or with ``--shard I/N`` its share (``shards.py``: a per-shard state,
and a merge of the shards' manifests when the last one ends). Neither changes a byte of the output.
"""

from __future__ import annotations

import errno
import json
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
    output_tree,
    params_hash,
)
from .datasets import DATASETS, STATE_DIR, Dataset, Record, loader_hazards, read_dataset
from .engines import EngineError, WorkerLost, make_engine, open_session
from .inputs import bound_layout, in_state_dir, layout_record, odd_entries, os_reason, sha1_file
from .occlusion import DONOR_SHAPES
from .output import STATE_FILE
from .saved import write_run_file
from .shards import Shard, ShardError
from .state import COPY, IMAGE, Entry, RunState, StateError, StateFullError
from .stats import summarize
from .status import Status
from .worker import donor_candidates, manifest_row
from .writer import ManifestRow, OutputError, OutputTree, UsableCounts, typed_rows

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


def _open_state(cfg: GenerateConfig, tree: OutputTree, fingerprint: dict, wanted: set[str],
                state_file: Path | None = None, exports: tuple[Path, ...] | None = None) -> tuple[RunState, bool]:
    """Open or create the run state; True when an earlier run's work may be resumed (after verification).

    ``state_file``: a shard's own state (opened private: no file locks); ``exports``: the files a
    start-over removes (the whole output's manifest, summary and other_files.csv by default)."""
    private = state_file is not None
    state_file = state_file or tree.state_file
    exports = exports if exports is not None else (tree.manifest_file, tree.summary_file, tree.other_files_file)
    has_state = state_file.exists()
    if not has_state and not cfg.overwrite and not private:
        if tree.run_file.exists() or tree.manifest_file.exists():
            raise StateError(f"{cfg.output} holds an occreid output without a run state (made by an older occreid, "
                             "or its state.sqlite was deleted); rerun with --overwrite to start it over.")
        others = [p for p in cfg.output.iterdir() if p.name != STATE_DIR]
        if others:
            raise RunError(f"{cfg.output} exists, is not empty and is not an occreid output; use --overwrite to "
                           "write into it anyway, or choose another --out.")
    try:
        state = RunState.open(state_file, create=True, private=private)
    except StateError as exc:
        if not cfg.overwrite or "another occreid run" in str(exc):
            raise
        _drop_state_files(state_file, exports + (tree.run_file,))
        state = RunState.open(state_file, create=True, private=private)
    previous = state.get_meta("fingerprint")
    try:
        previous_fp = json.loads(previous) if previous else None
        if previous_fp is not None and not isinstance(previous_fp, dict):
            raise ValueError(previous)
    except ValueError:
        if not cfg.overwrite:
            state.close()
            raise StateError(f"the run state of {cfg.output} holds damaged parameters; rerun with --overwrite to "
                             "start this output over.") from None
        previous_fp = {}
    if previous_fp is None:
        state.set_meta("fingerprint", json.dumps(fingerprint, sort_keys=True))
        return state, False
    if previous_fp == fingerprint and not cfg.overwrite:
        return state, True
    if not cfg.overwrite:
        diffs = [k for k in sorted(set(fingerprint) | set(previous_fp)) if previous_fp.get(k) != fingerprint.get(k)]
        detail = "; ".join(f"{k}: was {previous_fp.get(k)!r}, now {fingerprint.get(k)!r}" for k in diffs)
        state.close()
        raise RunError(
            f"{cfg.output} holds an occreid output made with other parameters ({detail}). "
            "Rerun with --overwrite to replace it, or choose another --out."
        )
    _remove_previous(state, tree, wanted, exports)
    state.set_meta("fingerprint", json.dumps(fingerprint, sort_keys=True))
    return state, False


def _drop_state_files(state_file: Path, exports: tuple[Path, ...]) -> None:
    for suffix in ("", "-wal", "-shm"):
        state_file.with_name(state_file.name + suffix).unlink(missing_ok=True)
    for p in exports:
        p.unlink(missing_ok=True)


def _remove_previous(state: RunState, tree: OutputTree, keep_parts: set[str],
                     exports: tuple[Path, ...] | None = None) -> None:
    """--overwrite: remove every file the previous run recorded writing, then forget it. Saved part
    maps of current inputs are kept: they are costly to remake, and a run reuses one only when its
    recorded source hash and parser match."""
    entries, bad = state.entries()
    for rel, e in entries.items():
        for kind in e.outputs:
            if not (kind == "parts" and rel in keep_parts):
                tree.remove(kind, rel)
    for rel in bad:  # unverifiable rows: their mirrored file and side outputs by name
        for kind in ("image", "masks") if rel in keep_parts else ("image", "parts", "masks"):
            tree.remove(kind, rel)
    state.remove(list(entries) + bad)
    for p in exports if exports is not None else (tree.manifest_file, tree.summary_file, tree.other_files_file):
        p.unlink(missing_ok=True)


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


def _verified(cfg: GenerateConfig, tree: OutputTree, entry: Entry | None, params: str) -> bool:
    """True when an earlier run's result for this input can be kept: same parameters, input
    unchanged (size and mtime, else its content hash), every output hashing to what was written."""
    if entry is None or entry.params != params or entry.kind != IMAGE or entry.row is None:
        return False
    if entry.row.get("status") == Status.ERROR or entry.row.get("relpath") != entry.relpath:
        return False
    src = cfg.input / entry.relpath
    try:
        st = os.stat(src)
        if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
            if st.st_size != entry.size or sha1_file(src) != entry.sha1:
                return False
        if not all(_holds(tree.output_path(kind, entry.relpath), digest) for kind, digest in entry.outputs.items()):
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


def _copy_other(cfg: GenerateConfig, tree: OutputTree, rel: str, entry: Entry | None,
                params: str) -> tuple[Entry | None, dict, bool]:
    """Copy one non-image file unchanged (bytes and mtime), unless the earlier copy verifies.
    Returns (state entry or None, other_files row, whether it was copied now)."""
    src, dst = cfg.input / rel, tree.image_path(rel)
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
    new = Entry(rel, COPY, st.st_size, st.st_mtime_ns, digest, params, {"copy": digest}, None)
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
    parser = preflight.prebuilt_parser(cfg)
    tree = output_tree(cfg)
    fingerprint = cfg.fingerprint(ds.layout)
    params = params_hash(fingerprint)
    session = open_session(cfg)  # Ray started or joined before anything is written
    try:
        preflight.check_links(cfg, tree, ds)  # before the first write: nothing goes through a link
        preflight.make_output(cfg, tree)
        wanted = {r.relpath for r in ds.records}
        if cfg.shard is None:
            _no_shards(cfg, tree, wanted)
            state, resume = _open_state(cfg, tree, fingerprint, wanted)
        else:
            state, resume = _open_shard_state(cfg, tree, fingerprint, wanted)
        try:
            result = _run(cfg, ds, tree, state, resume, fingerprint, params, parser, progress, session)
            result.notes += [state.taken_over] if state.taken_over else []
            return result
        finally:
            state.close()
    except StateFullError as exc:
        raise OutputError(exc.errno, exc.strerror) from None
    finally:
        if session is not None:
            session.close()


def _no_shards(cfg: GenerateConfig, tree: OutputTree, wanted: set[str]) -> None:
    """A run without --shard into an output made by shards: refused, or with --overwrite, what the
    shards wrote is removed and their states forgotten."""
    found = sharding.existing_shards(tree)
    if not found:
        return
    n = found[0].count
    if not cfg.overwrite:
        raise RunError(f"{cfg.output} was made by shards (--shard I/{n}); rerun them to resume (occreid merge "
                       f"{cfg.output} merges finished ones), or add --overwrite to start over as one run.")
    for shard in found:
        path = sharding.shard_dir(tree, shard) / STATE_FILE
        if not path.exists():
            continue
        try:
            state = RunState.open(path, create=False, private=True)
        except StateError as exc:
            if "another occreid run" in str(exc):
                raise
            continue  # damaged: its outputs are overwritten in place instead
        try:
            _remove_previous(state, tree, wanted)
        finally:
            state.close()
    sharding.remove_all(tree)
    tree.run_file.unlink(missing_ok=True)


def _open_shard_state(cfg: GenerateConfig, tree: OutputTree, fingerprint: dict,
                      wanted: set[str]) -> tuple[RunState, bool]:
    """A shard's own state, after checking it may join this output (no unsharded run there, the
    other shards made with the same N and parameters)."""
    shard = cfg.shard
    assert shard is not None, "called for a sharded run only"
    if tree.state_file.exists():
        raise ShardError(f"{cfg.output} holds a run made without --shard; rerun that command to resume it, or "
                         "choose another --out for the shards.")
    if not cfg.overwrite and not sharding.shards_root(tree).is_dir():
        if tree.run_file.exists() or tree.manifest_file.exists():
            raise StateError(f"{cfg.output} holds an occreid output without a run state; rerun with --overwrite "
                             "to start it over.")
        if any(p.name != STATE_DIR for p in cfg.output.iterdir()):
            raise RunError(f"{cfg.output} exists, is not empty and is not an occreid output; use --overwrite to "
                           "write into it anyway, or choose another --out.")
    sharding.check_compatible(tree, shard, fingerprint, cfg.overwrite)
    folder = sharding.unmark(tree, shard)  # first: no merge may take this shard's old results from now on
    state, resume = _open_state(cfg, tree, fingerprint, wanted, state_file=folder / STATE_FILE,
                                exports=(tree.manifest_file, tree.summary_file, tree.other_files_file,
                                         tree.run_file))
    try:
        sharding.mark(tree, shard, fingerprint)
    except BaseException:
        state.close()
        raise
    return state, resume


def _run(cfg, ds, tree, state, resume, fingerprint, params, parser, progress, session=None) -> RunResult:
    warnings = loader_hazards(ds.layout, cfg.output, ds.records)
    tree.clear_tmp()
    if cfg.shard is None:  # shards: the merge writes it, once every shard agrees
        write_run_file(tree, fingerprint, __version__, str(cfg.input.resolve()))
    _phase("after-start")
    mine = cfg.shard.owns if cfg.shard is not None else (lambda rel: True)
    layout = bound_layout(ds.layout, cfg.input)
    listed = layout.index(cfg.input) if hasattr(layout, "index") else None
    entries, bad = state.entries() if resume else ({}, [])
    all_wanted = {r.relpath for r in ds.records}
    records = [r for r in ds.records if mine(r.relpath)] if cfg.shard is not None else list(ds.records)
    other_files = [rel for rel in ds.other_files if mine(rel)]
    wanted = {r.relpath for r in records}
    others = set(other_files)

    # inputs that are gone (or are no longer what they were): remove their outputs and rows
    gone = [rel for rel, e in entries.items() if rel not in (wanted if e.kind == IMAGE else others)]
    for rel in gone + bad:
        kinds = entries[rel].outputs if rel in entries else ("image", "parts", "masks")
        for kind in kinds:
            tree.remove(kind, rel)
    if gone or bad:
        state.remove(gone + bad)

    # image rows for entries a layout cannot read as files (broken links, folders named like images...)
    odd_rows, odd_others, odd_names = [], [], []
    for rel, reason in odd_entries(cfg.input, lambda rel: layout_record(layout, listed, rel) is not None):
        rec = None if in_state_dir(rel) else layout_record(layout, listed, rel)  # input's _occreid/: skipped
        odd_names.append(rel)
        if not mine(rel):
            continue
        if rec is not None and rel not in all_wanted:
            odd_rows.append(manifest_row(cfg, rec, Status.ERROR, reason))
        elif rec is None and rel not in others:
            odd_others.append({"relpath": rel, "action": "skipped", "reason": reason})

    finished = {rel: entries[rel] for rel in wanted if _verified(cfg, tree, entries.get(rel), params)}
    redone = sum(1 for rel in wanted if rel in entries and rel not in finished and entries[rel].row
                 and entries[rel].row.get("status") != Status.ERROR)
    todo = [r for r in records if r.relpath not in finished]

    needed = 0
    for r in todo:
        try:
            needed += os.stat(cfg.input / r.relpath).st_size * (3 if cfg.save_parts or cfg.save_masks else 1)
        except OSError:
            pass
    preflight.free_space_check(cfg, needed)

    copied, copy_entries, other_rows = 0, [], list(odd_others)
    for rel in other_files:
        entry, row, now = _copy_other(cfg, tree, rel, entries.get(rel) if resume else None, params)
        other_rows.append(row)
        copied += now
        if entry is not None and now:
            copy_entries.append(entry)
    if copy_entries:
        state.commit(copy_entries)

    rows = {rel: e.row for rel, e in finished.items()}
    chunks = plan_chunks(todo, _chunk_size(cfg, len(todo)))
    if progress:
        progress(total=len(records), advance=len(finished))
    donors = donor_candidates(cfg, ds) if cfg.occlusion.shape in DONOR_SHAPES else None
    engine = None
    try:
        engine = make_engine(cfg, ds.layout, parser, donors, len(chunks), session)
        if donors is not None and todo and cfg.shard is None:
            # parse phase, finished everywhere before the first draw (shards: --parts-from holds every map)
            engine.save_parts(plan_chunks(list(ds.records), cfg.chunk_size))
        for chunk_entries in engine.process(chunks):
            for e in chunk_entries:  # outputs an earlier result had and this one has not
                old = entries.get(e.relpath)
                for kind in (old.outputs if old else {}):
                    if kind not in e.outputs:
                        tree.remove(kind, e.relpath)
            state.commit(chunk_entries)
            _phase("after-commit")
            for e in chunk_entries:
                rows[e.relpath] = e.row
            if progress:
                progress(advance=len(chunk_entries))
        engine.close()
    except BaseException:
        if engine is not None:
            engine.stop()
        raise

    _phase("before-export")
    final = [rows[r.relpath] for r in records] + odd_rows
    if cfg.shard is None:
        summary, typed = sharding.export(tree, final, other_rows, ds.layout, warnings)
        tree.clear_tmp()
        return RunResult(rows=typed, summary=summary, warnings=warnings, skipped=len(finished), copied=copied,
                         other_files=other_rows, removed=len(gone), redone=redone)
    listing = sharding.listing_digest([r.relpath for r in ds.records], list(ds.other_files), odd_names)
    sharding.finish(tree, cfg.shard, final, other_rows, {
        "fingerprint": fingerprint, "listing": listing, "layout": ds.layout, "warnings": warnings,
        "input": str(cfg.input.resolve()), "occreid": __version__})
    _phase("after-shard")
    waiting = sharding.pending(tree, cfg.shard.count, fingerprint)
    if not waiting:  # the last shard to finish (or one of several finishing at once: same bytes) merges
        sharding.merge(cfg.output, tmp=tree.tmp)
    tree.clear_tmp()
    typed = typed_rows(final)
    return RunResult(rows=typed, summary=summarize(typed), warnings=warnings, skipped=len(finished), copied=copied,
                     other_files=other_rows, removed=len(gone), redone=redone, shard=cfg.shard,
                     merged=not waiting, waiting=waiting)
