"""Whether a run may take over what its output already holds: the run state opened (or created),
an earlier run's work kept for verification when it was made with the same parameters, another
run's output refused in one sentence, or with ``--overwrite`` what it wrote removed first.

A run without ``--shard`` keeps one state (``_occreid/state.sqlite``, locked); a shard keeps its
own in its folder and first checks that it may join the output (no unsharded run there, the other
shards made with the same N and parameters, ``shards.check_compatible``).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import shards as sharding
from .config import RunError
from .datasets import STATE_DIR
from .output import STATE_FILE
from .plan import RunPlan
from .saved import RunFileError, read_run_file
from .shards import ShardError
from .state import RunState, StateError
from .writer import OutputTree


def open_run_state(plan: RunPlan, wanted: set[str]) -> tuple[RunState, bool]:
    """The run state this run commits to, and True when an earlier run's work may be resumed
    (after verification). ``wanted``: every input image (their saved part maps survive a start-over)."""
    if plan.config.shard is None:
        _no_shards(plan, wanted)
        return _open_state(plan, wanted)
    return _open_shard_state(plan, wanted)


def _exports(tree: OutputTree) -> tuple[Path, ...]:
    """The files a start-over removes: the whole output's manifest, summary and other_files.csv."""
    return tree.manifest_file, tree.summary_file, tree.other_files_file


def _open_state(plan: RunPlan, wanted: set[str], state_file: Path | None = None,
                exports: tuple[Path, ...] | None = None) -> tuple[RunState, bool]:
    """Open or create the run state; True when an earlier run's work may be resumed (after verification).

    ``state_file``: a shard's own state (opened private: no file locks); ``exports``: the files a
    start-over removes (``_exports`` by default)."""
    cfg, tree, fingerprint = plan.config, plan.tree, plan.fingerprint
    private = state_file is not None
    state_file = state_file or tree.state_file
    exports = exports if exports is not None else _exports(tree)
    if not state_file.exists() and not cfg.overwrite and not private:
        if tree.run_file.exists() or tree.manifest_file.exists():
            raise StateError(f"{cfg.output} holds an occreid output without a run state (made by an older occreid, "
                             "or its state.sqlite was deleted); rerun with --overwrite to start it over.")
        _refuse_foreign(cfg.output)
    # Which code made what is here, read before a damaged state and its run.json are dropped.
    made_by = _run_file_fingerprint(tree) if cfg.overwrite and not private else {}
    try:
        state = RunState.open(state_file, create=True, private=private)
    except StateError as exc:
        if not cfg.overwrite or "another occreid run" in str(exc):
            raise
        _drop_state_files(state_file, exports + (tree.run_file,))
        state = RunState.open(state_file, create=True, private=private)
    previous = _previous_fingerprint(state, cfg.output, cfg.overwrite)
    if previous is None:
        if cfg.overwrite and not private:  # no state to list them: saved maps are trusted by run.json alone
            for rel in wanted - _kept_parts(made_by, fingerprint, wanted):
                tree.remove("parts", rel)
        state.set_meta("fingerprint", json.dumps(fingerprint, sort_keys=True))
        return state, False
    if previous == fingerprint and not cfg.overwrite:
        return state, True
    if not cfg.overwrite:
        diffs = [k for k in sorted(set(fingerprint) | set(previous)) if previous.get(k) != fingerprint.get(k)]
        detail = "; ".join(f"{k}: was {previous.get(k)!r}, now {fingerprint.get(k)!r}" for k in diffs)
        state.close()
        if diffs == ["code"]:
            raise RunError(
                f"{cfg.output} was begun by another version of occreid's code (source digest {previous.get('code')!r},"
                f" now {fingerprint['code']!r}), whose part maps or occluders may differ. Rerun with --overwrite to "
                "redo it with this version, or choose another --out."
            )
        raise RunError(
            f"{cfg.output} holds an occreid output made with other parameters ({detail}). "
            "Rerun with --overwrite to replace it, or choose another --out."
        )
    remove_previous(state, tree, _kept_parts(previous, fingerprint, wanted), exports)
    state.set_meta("fingerprint", json.dumps(fingerprint, sort_keys=True))
    return state, False


def _kept_parts(previous: dict, fingerprint: dict, wanted: set[str]) -> set[str]:
    """The inputs whose saved part maps a start-over keeps: all of ``wanted`` when the previous run
    ran the same code, none when other code made them (its parser may draw other maps)."""
    return wanted if previous.get("code") == fingerprint.get("code") else set()


def _run_file_fingerprint(tree: OutputTree) -> dict:
    """The fingerprint ``run.json`` records ({} when there is none, or it cannot be read)."""
    try:
        return read_run_file(tree.root)["fingerprint"]
    except RunFileError:
        return {}


def _refuse_foreign(output: Path) -> None:
    """RunError when ``output`` holds anything but occreid's own folder (not an occreid output)."""
    if any(p.name != STATE_DIR for p in output.iterdir()):
        raise RunError(f"{output} exists, is not empty and is not an occreid output; use --overwrite to "
                       "write into it anyway, or choose another --out.")


def _previous_fingerprint(state: RunState, output: Path, overwrite: bool) -> dict | None:
    """The parameters the state was made with (None: a new state; {}: damaged, with --overwrite)."""
    previous = state.get_meta("fingerprint")
    try:
        found = json.loads(previous) if previous else None
        if found is not None and not isinstance(found, dict):
            raise ValueError(previous)
    except ValueError:
        if not overwrite:
            state.close()
            raise StateError(f"the run state of {output} holds damaged parameters; rerun with --overwrite to "
                             "start this output over.") from None
        return {}
    return found


def _drop_state_files(state_file: Path, exports: tuple[Path, ...]) -> None:
    for suffix in ("", "-wal", "-shm"):
        state_file.with_name(state_file.name + suffix).unlink(missing_ok=True)
    for p in exports:
        p.unlink(missing_ok=True)


def remove_previous(state: RunState, tree: OutputTree, keep_parts: set[str],
                    exports: tuple[Path, ...] | None = None) -> None:
    """--overwrite: remove every file the previous run recorded writing, then forget it. Saved part
    maps of ``keep_parts`` (current inputs, when the same code made them: ``_kept_parts``) are kept:
    they are costly to remake, and a run reuses one only when its recorded source hash and parser
    match."""
    entries, bad = state.entries()
    for rel, e in entries.items():
        for kind in e.outputs:
            if not (kind == "parts" and rel in keep_parts):
                tree.remove(kind, rel)
    for rel in bad:  # unverifiable rows: their mirrored file and side outputs by name
        for kind in ("image", "masks") if rel in keep_parts else ("image", "parts", "masks"):
            tree.remove(kind, rel)
    state.remove(list(entries) + bad)
    for p in exports if exports is not None else _exports(tree):
        p.unlink(missing_ok=True)


def _no_shards(plan: RunPlan, wanted: set[str]) -> None:
    """A run without --shard into an output made by shards: refused, or with --overwrite, what the
    shards wrote is removed and their states forgotten."""
    cfg, tree = plan.config, plan.tree
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
        try:  # damaged or missing parameters ({}): no saved map is trusted
            previous = _previous_fingerprint(state, cfg.output, overwrite=True) or {}
            remove_previous(state, tree, _kept_parts(previous, plan.fingerprint, wanted))
        finally:
            state.close()
    sharding.remove_all(tree)
    tree.run_file.unlink(missing_ok=True)


def _open_shard_state(plan: RunPlan, wanted: set[str]) -> tuple[RunState, bool]:
    """A shard's own state, after checking it may join this output (no unsharded run there, the
    other shards made with the same N and parameters)."""
    cfg, tree, shard = plan.config, plan.tree, plan.config.shard
    assert shard is not None, "called for a sharded run only"
    if tree.state_file.exists():
        raise ShardError(f"{cfg.output} holds a run made without --shard; rerun that command to resume it, or "
                         "choose another --out for the shards.")
    if not cfg.overwrite and not sharding.shards_root(tree).is_dir():
        if tree.run_file.exists() or tree.manifest_file.exists():
            raise StateError(f"{cfg.output} holds an occreid output without a run state; rerun with --overwrite "
                             "to start it over.")
        _refuse_foreign(cfg.output)
    sharding.check_compatible(tree, shard, plan.fingerprint, cfg.overwrite)
    folder = sharding.unmark(tree, shard)  # first: no merge may take this shard's old results from now on
    state, resume = _open_state(plan, wanted, state_file=folder / STATE_FILE,
                                exports=_exports(tree) + (tree.run_file,))
    try:
        sharding.mark(tree, shard, plan.fingerprint)
    except BaseException:
        state.close()
        raise
    return state, resume
