"""Shards: one run split over N independent processes (an array job), merged into one output.

``--shard I/N`` gives a process every input whose relative path hashes to I modulo N (SHA-1 of the
path's bytes): the partition depends on nothing but the path, so it is the same on every host and
stays the same for every file when files are added or removed elsewhere in the tree. An image's
output depends only on (seed, relative path, bytes, parameters), so the shards together write
exactly what one run writes.

Each shard keeps its own state under ``OUT/_occreid/shards/I-of-N/`` and shares no file with the
others (no file locking over a network file system): ``shard.json`` (its parameters, written at
its start), ``state.sqlite`` (its run state: resume works as for a local run), ``tmp/`` (its
temporary files), and, when it has finished, its share of the manifest (``manifest.csv``), of the
other files (``other_files.csv``) and ``done.json`` (what it saw and wrote, with their hashes).
Other (non-image) files and entries a layout cannot read are partitioned like images.

The merge (run by whichever shard finds every ``done.json`` there when it ends, or by
``occreid merge OUT``) checks that the N shards agree (same parameters, same N, same input
listing), then writes ``manifest.csv``, ``other_files.csv``, ``summary.json`` and ``run.json``
exactly as a single run would. Two merges at once write the same bytes through atomic renames.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .containment import clean_relpath, link_on_path
from .errors import OccreidError
from .output import MANIFEST_FILE, OTHER_FILES_FILE, SHARDS_DIR, TMP_DIR
from .saved import write_run_file
from .stats import summarize
from .writer import (
    MANIFEST_FIELDS,
    OTHER_FIELDS,
    ManifestError,
    ManifestRow,
    OutputTree,
    UsableCounts,
    csv_bytes,
    read_csv_rows,
    typed_rows,
    write_json,
    write_manifest,
    write_other_files,
)

#: Folder under ``OUT/_occreid`` holding one folder per shard.
_SHARD_NAME = re.compile(r"^(\d+)-of-(\d+)$")


#: A finished shard's record, in its own folder: its fingerprint, listing, counts and the SHA-1s of its CSVs.
DONE_FILE = "done.json"


class ShardError(OccreidError, RuntimeError):
    """Shards that cannot be run or merged as asked (mixed parameters or N, unfinished, damaged)."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    @property
    def name(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, relpath: str) -> bool:
        return shard_of(relpath, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> Shard(I, N); ValueError with one sentence when it is not a shard of N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"--shard {text!r}: write it as I/N, e.g. 0/4 for the first of four shards.")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text}: I must be in 0..N-1 and N at least 1 (e.g. 0/4 to 3/4).")
    return Shard(index, count)


def shard_of(relpath: str, count: int) -> int:
    """The shard (0..count-1) an input belongs to: the first 8 bytes of the SHA-1 of its relative
    path's bytes, modulo ``count``. Depends on the path alone (stable across hosts and runs)."""
    digest = hashlib.sha1(os.fsencode(relpath)).digest()
    return int.from_bytes(digest[:8], "big") % count


def listing_digest(images: list[str], others: list[str], odd: list[str]) -> str:
    """SHA-1 over every input path a shard saw (images, other files, unreadable entries): shards
    that listed different trees (files added or removed between their starts) are not merged."""
    h = hashlib.sha1()
    for tag, names in ((b"i", images), (b"o", others), (b"x", odd)):
        for name in sorted(os.fsencode(n) for n in names):
            h.update(tag + name + b"\0")
    return h.hexdigest()


# -- where a shard keeps its state ------------------------------------------------------------
def shards_root(tree: OutputTree) -> Path:
    return tree.state / SHARDS_DIR


def shard_dir(tree: OutputTree, shard: Shard) -> Path:
    return shards_root(tree) / shard.name


def shard_tree(root: Path, shard: Shard) -> OutputTree:
    """The output tree as a shard writes it: shared paths, its own temporary folder."""
    tree = OutputTree(root)
    return OutputTree(root, tmp=shard_dir(tree, shard) / TMP_DIR)


def existing_shards(tree: OutputTree) -> list[Shard]:
    """The shard folders present under an output, sorted."""
    root = shards_root(tree)
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _SHARD_NAME.match(p.name)
            if m and p.is_dir() and not p.is_symlink():
                found.append(Shard(int(m.group(1)), int(m.group(2))))
    return sorted(found, key=lambda s: (s.count, s.index))


def _read_json(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise ShardError(f"{path} is damaged (not JSON); rerun that shard to write it again.") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("fingerprint", {}), dict):
        raise ShardError(f"{path} is damaged (not a JSON object with the shard's parameters); rerun that shard to "
                         "write it again.")
    return obj


def check_compatible(tree: OutputTree, shard: Shard, fingerprint: dict, overwrite: bool) -> None:
    """Refuse to run ``shard`` into an output whose other shards were made with another N, or with
    other parameters (unless ``overwrite``: this shard then starts over, and the merge waits until
    every other shard has been rerun with the same parameters)."""
    other_n = sorted({s.count for s in existing_shards(tree) if s.count != shard.count})
    if other_n:
        raise ShardError(f"{tree.root} holds shards of a run split {other_n[0]} ways (--shard I/{other_n[0]}), "
                         f"not {shard.count}; use --shard I/{other_n[0]}, or choose another --out.")
    if overwrite:
        return
    for other in existing_shards(tree):
        info = _read_json(shard_dir(tree, other) / "shard.json")
        if info is not None and info.get("fingerprint") != fingerprint:
            was, now = info.get("fingerprint") or {}, fingerprint
            diffs = [k for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
            detail = "; ".join(f"{k}: was {was.get(k)!r}, now {now.get(k)!r}" for k in diffs)
            raise ShardError(f"shard {other} of {tree.root} was made with other parameters ({detail}); "
                             "rerun every shard with the same options, or add --overwrite to each to start over.")


def unmark(tree: OutputTree, shard: Shard) -> Path:
    """A shard starting: its ``done.json`` and share of the manifest removed first, so no merge takes
    its earlier results while it runs. Returns its folder."""
    folder = shard_dir(tree, shard)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (DONE_FILE, MANIFEST_FILE, OTHER_FILES_FILE):
        tree.contained(folder / name, "delete")
        (folder / name).unlink(missing_ok=True)
    return folder


def mark(tree: OutputTree, shard: Shard, fingerprint: dict) -> None:
    """Record the parameters a shard runs with (``shard.json``): other shards check theirs against it."""
    write_json(tree, shard_dir(tree, shard) / "shard.json",
               {"shard": shard.index, "of": shard.count, "fingerprint": fingerprint})


def finish(tree: OutputTree, shard: Shard, rows: list[dict], other_rows: list[dict], info: dict) -> None:
    """Write a finished shard's share of the manifest and of other_files.csv, then ``done.json``
    (last, so a merge that sees it sees the rest). ``info``: fingerprint, listing, layout, warnings,
    input, occreid version."""
    folder = shard_dir(tree, shard)
    manifest_sha1 = tree.write_bytes(folder / MANIFEST_FILE, csv_bytes(MANIFEST_FIELDS, rows))
    other_sha1 = tree.write_bytes(folder / OTHER_FILES_FILE, csv_bytes(OTHER_FIELDS, other_rows))
    write_json(tree, folder / DONE_FILE, info | {
        "shard": shard.index, "of": shard.count, "manifest_sha1": manifest_sha1, "manifest_rows": len(rows),
        "other_files_sha1": other_sha1, "other_files_rows": len(other_rows)})


def pending(tree: OutputTree, count: int, fingerprint: dict | None = None) -> list[int]:
    """The shards of ``count`` that have not finished (no ``done.json``), or, given ``fingerprint``,
    not finished with these parameters (a shard still to be rerun after another's --overwrite)."""
    waiting = []
    for i in range(count):
        path = shard_dir(tree, Shard(i, count)) / DONE_FILE
        if not path.is_file():
            waiting.append(i)
        elif fingerprint is not None:
            try:
                info = _read_json(path) or {}
            except ShardError:
                info = {}
            if info.get("fingerprint") != fingerprint:
                waiting.append(i)
    return waiting


# -- merge ----------------------------------------------------------------------------------
@dataclass
class MergeResult(UsableCounts):
    rows: list[ManifestRow]
    other_files: list[dict]
    summary: dict
    warnings: list[str]
    count: int  # N, the number of shards merged


def export(tree: OutputTree, rows: list[dict], other_rows: list[dict], layout: str,
           warnings: list[str]) -> tuple[dict, list[ManifestRow]]:
    """Write manifest.csv, other_files.csv and summary.json of a finished run (local or merged)
    from the rows' text; the per-split summary and the typed rows."""
    manifest_sha1 = write_manifest(tree, rows)
    write_other_files(tree, other_rows)
    typed = typed_rows(rows)
    summary = summarize(typed)
    write_json(tree, tree.summary_file, {
        "splits": summary, "other_files_copied": sum(r["action"] == "copied" for r in other_rows),
        "other_files_skipped": sum(r["action"] != "copied" for r in other_rows), "layout": layout,
        "warnings": warnings, "manifest_sha1": manifest_sha1, "manifest_rows": len(rows)})
    return summary, typed


def merge(root: Path, tmp: Path | None = None) -> MergeResult:
    """Merge the N finished shards of ``root`` into the manifest, other_files.csv, summary.json and
    run.json a single run would have written (same bytes). ShardError (one sentence) when there are
    no shards, shards of several N, unfinished shards, or shards that disagree or are damaged."""
    base = OutputTree(root)
    tree = OutputTree(root, tmp=tmp) if tmp is not None else base
    _refuse_links(base)
    count, infos = _finished(root, base)
    rows, other_rows = _shard_rows(base, infos)
    _check_paths(root, rows, other_rows)
    first = infos[0]
    warnings = first.get("warnings") or []
    if not isinstance(warnings, list):
        raise ShardError(f"{shard_dir(base, Shard(0, count)) / 'done.json'} is damaged; rerun shard 0/{count}.")
    try:
        typed_rows(rows)
    except (TypeError, ValueError) as exc:  # a manifest edited with its recorded hash to match
        raise ShardError(f"a shard's manifest of {root} holds a value that is not of its column ({exc}); rerun "
                         "every shard.") from None
    summary, typed = export(tree, rows, other_rows, str(first.get("layout")), [str(w) for w in warnings])
    write_run_file(tree, first.get("fingerprint"), first.get("occreid"), first.get("input"))
    return MergeResult(rows=typed, other_files=other_rows, summary=summary, warnings=warnings, count=count)


def _finished(root: Path, base: OutputTree) -> tuple[int, list[dict]]:
    """N and the ``done.json`` of each of the N shards, once every one has finished and they agree
    (same parameters, same input listing)."""
    found = existing_shards(base)
    if not found:
        raise ShardError(f"{root} holds no shards (made with generate --shard I/N); nothing to merge.")
    counts = sorted({s.count for s in found})
    if len(counts) > 1:
        raise ShardError(f"{root} holds shards of runs split {' and '.join(map(str, counts))} ways; "
                         "remove the output and run every shard with the same N.")
    count = counts[0]
    missing = pending(base, count)
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ShardError(f"{len(missing)} of {count} shards of {root} have not finished ({names}); run them "
                         "(a rerun resumes), then merge.")
    infos = [_read_json(shard_dir(base, Shard(i, count)) / DONE_FILE) or {} for i in range(count)]
    first = infos[0]
    for i, info in enumerate(infos):
        if info.get("fingerprint") != first.get("fingerprint"):
            raise ShardError(f"shards 0/{count} and {i}/{count} of {root} were made with other parameters; rerun "
                             "every shard with the same options (add --overwrite to each to start over).")
        if info.get("listing") != first.get("listing"):
            raise ShardError(f"shards 0/{count} and {i}/{count} of {root} saw different inputs (files added or "
                             "removed while they ran); rerun every shard (each resumes: only changes are redone).")
    return count, infos


def _shard_rows(base: OutputTree, infos: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every shard's share of the manifest and of other_files.csv, in shard order, each file checked
    against the SHA-1 its shard recorded."""
    count = len(infos)
    rows: list[dict] = []
    other_rows: list[dict] = []
    for i, info in enumerate(infos):
        folder = shard_dir(base, Shard(i, count))
        for name, fields, key, into in ((MANIFEST_FILE, MANIFEST_FIELDS, "manifest", rows),
                                        (OTHER_FILES_FILE, OTHER_FIELDS, "other_files", other_rows)):
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ShardError(f"cannot read {path} ({exc.strerror or exc}); rerun shard {i}/{count}.") from None
            if hashlib.sha1(data).hexdigest() != info.get(f"{key}_sha1"):
                raise ShardError(f"{path} does not match what shard {i}/{count} wrote (cut short or edited); "
                                 f"rerun shard {i}/{count}.")
            try:
                into.extend(read_csv_rows(data, fields, path))
            except ManifestError as exc:
                raise ShardError(str(exc)) from None
    return rows, other_rows


def _check_paths(root: Path, rows: list[dict], other_rows: list[dict]) -> None:
    """Rows the merge may act on: clean relative paths, each image in one shard."""
    seen: set[str] = set()
    for r in rows + other_rows:
        if not clean_relpath(r["relpath"]):
            raise ShardError(f"{r['relpath']!r} in the shards of {root} is not a clean relative path (damaged or "
                             "edited); rerun every shard.")
    for r in rows:
        if r["relpath"] in seen:
            raise ShardError(f"{r['relpath']!r} has a row in two shards of {root}; rerun every shard.")
        seen.add(r["relpath"])


def _refuse_links(tree: OutputTree) -> None:
    """A merge writes under ``_occreid`` and reads the shard folders: none may be a link (containment)."""
    root = os.fspath(tree.root)
    for rel in (f"{tree.state.name}/{SHARDS_DIR}/x",):
        link = link_on_path(root, rel)
        if link is not None:
            raise ShardError(f"{link} is a symbolic link inside {root}; occreid never writes through links "
                             "there: remove it.")


def remove_all(tree: OutputTree) -> None:
    """Forget every shard's state (after its outputs were removed): ``--overwrite`` by a local run.
    A link in their place is not followed (only removed itself: its target is left alone)."""
    path = shards_root(tree)
    tree.contained(path / "x", "delete")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)  # removes links inside it, never what they point to
    else:
        path.unlink()
