"""Runner: checks everything, plans the work, runs it on worker processes, resumes, reports.

Before the first image: the options, the split names against the layout, the parser (built once
in the main process, its checkpoint loaded and checked), the output folder's writability and free
space, and the run state. Each worker process then handles chunks of records: read bytes ->
decode -> parse (or reuse a saved part map) -> occlude with the image's own seeded generator ->
encode -> write atomically. The main process commits each finished chunk to the run state
(SQLite, ``state.py``); a resume verifies every input's fingerprint and every output's hash
before keeping it, so an interrupted run, rerun, ends byte-identical to an uninterrupted one.

Who runs the chunks is an engine (``engines.py``: local processes or Ray actors); which inputs a
process takes is all of them, or with ``--shard I/N`` its share (``shards.py``: a per-shard state,
and a merge of the shards' manifests when the last one ends). Neither changes a byte of the output.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import shutil
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import __version__
from . import shards as sharding
from .datasets import DATASETS, STATE_DIR, Dataset, Layout, Record, loader_hazards, read_dataset
from .engines import ENGINES, EngineError, WorkerLost, make_engine, open_session, usable_cores
from .images import MAX_FILE_BYTES, MAX_PIXELS, Decoded, ImageError, decode, encode
from .inputs import bound_layout, layout_record, odd_entries, os_reason, read_input, sha1_file
from .occlusion import OCCLUDED, Candidate, DonorBank, Occluder, OcclusionParams, image_rng, tracklet_order
from .occlusion.donors import objects_digest
from .orientation import exif_orientation, to_stored, to_upright
from .parser import ParseResult
from .saved import read_labels, read_part_map
from .shards import Shard, ShardError
from .state import COPY, IMAGE, Entry, RunState, StateError, StateFullError
from .stats import summarize
from .status import Status
from .writer import ManifestRow, OutputError, OutputTree, UsableCounts, tmp_name, write_json

#: 2: state in SQLite, part_source / presence / shape / donor / part_covered columns, size guards,
#: EXIF-upright parsing, the direct pose parser.
FORMAT_VERSION = 2
#: How draws are grouped: every image on its own, or one part order per video tracklet.
PER_CHOICES = ("image", "tracklet")
#: Shapes cut from other images of the dataset: every image's part map must exist before any is occluded.
DONOR_SHAPES = ("person", "scene")
SEED_MAX = 2**32 - 1  # the seed enters each image's generator as 32 bits: larger ones would alias
_FREE_MARGIN = 1024 * 1024

__all__ = ["FORMAT_VERSION", "EngineError", "GenerateConfig", "OutputError", "RunError", "RunResult", "ShardError",
           "StateError", "WorkerLost", "generate"]


class RunError(RuntimeError):
    """The run cannot start as asked (paths, parameters, parser); the message says what to do."""


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
    max_pixels: int = MAX_PIXELS  # images larger than this are refused before decoding
    max_file_bytes: int = MAX_FILE_BYTES  # files larger than this are refused before reading
    per: str = "image"  # "tracklet": one part order per video tracklet, so the occluder follows the person
    # where the work runs; none of these changes a byte of the output, so none is in the fingerprint
    shard: Shard | None = None  # --shard I/N: this process does the inputs whose path hashes to I mod N
    engine: str = "local"  # local (this machine's processes) or ray
    ray_address: str | None = None  # --engine ray: join this cluster (None: start a local one)

    def fingerprint(self, layout: str) -> dict:
        opts = {k: str(v) for k, v in sorted(self.parser_options.items()) if k in ("checkpoint", "input_size")}
        extra = {}
        if self.per != "image":
            extra["per"] = self.per
        if self.occlusion.shape == "object" and self.occlusion.objects_dir is not None:
            extra["objects"] = objects_digest(self.occlusion.objects_dir)  # other objects, other bytes
        return extra | {
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
            "max_pixels": self.max_pixels,
            "max_file_bytes": self.max_file_bytes,
        }


def params_hash(fingerprint: dict) -> str:
    return hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


@dataclass
class RunResult(UsableCounts):
    """What a run did. For a shard, ``rows``, ``summary`` and the counts are the shard's own;
    ``merged`` says whether it was the last shard and wrote the whole output's manifest."""

    rows: list[dict]
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


def rng_key(relpath: str) -> str:
    """The text an image's draws are keyed on: its relpath, or for a name that is not valid UTF-8 a
    reversible escape of its bytes (the same on every run, so such names resume like any other)."""
    try:
        relpath.encode("utf-8")
        return relpath
    except UnicodeEncodeError:
        return os.fsencode(relpath).decode("utf-8", "backslashreplace")


# -- worker side ---------------------------------------------------------------------------
def _check_parts(parts, shape: tuple[int, int]) -> str:
    """Why a parser's part map cannot be used ('' when it can)."""
    if not isinstance(parts, np.ndarray):
        return f"parser returned {type(parts).__name__}, not a NumPy part map"
    if parts.shape != shape:
        return f"parser returned a {parts.shape} part map for a {shape} image"
    if not np.issubdtype(parts.dtype, np.integer) or parts.min(initial=0) < 0 or parts.max(initial=0) > 6:
        return "parser returned labels outside 0..6"
    return ""


def manifest_row(cfg: GenerateConfig, rec: Record, status: str, reason: str = "", **extra) -> dict:
    """The manifest row of one image: its labels, what became of it, and the run's parameters."""
    o = cfg.occlusion
    return ManifestRow(
        relpath=rec.relpath, split=rec.split, pid=rec.pid, camera=rec.camera, clothes=rec.clothes,
        status=status, reason=reason, preset=cfg.preset, part_choice=o.part_choice, parser=cfg.parser, seed=cfg.seed,
        pool_levels=o.pool_levels, pool_kernel=o.pool_kernel, threshold=o.threshold, fill=o.fill, shape=o.shape,
        **extra,
    ).to_csv()


def donor_candidates(cfg: GenerateConfig, ds: Dataset) -> list[tuple]:
    """Every image of the dataset as plain data a worker's ``DonorBank`` is built from: (relpath,
    split, pid, image path). Donors are drawn within the target's split folder by default."""
    return [(r.relpath, r.split, r.pid, str(cfg.input / r.relpath)) for r in ds.records]


class _Pending(NamedTuple):
    """An image read and decoded, on its way to the parser (or to its saved part map)."""

    record: Record
    data: bytes  # the file's bytes: kept as they are when the image is not occluded
    decoded: Decoded
    digest: str  # SHA-1 of ``data``: which saved part maps belong to it
    saved: tuple | None  # (SavedParts, part source, SHA-1 of our own map file or None); None: parse it


class _Worker:
    """What one process holds: the config, its parser (built on first use) and the occluder (with
    the donor bank when the shape pastes other images of the dataset)."""

    def __init__(self, config: GenerateConfig, layout: str, parser=None, donors: list[tuple] | None = None):
        self.config = config
        self.layout = layout
        self.roles = bound_layout(layout, config.input)
        self.params = params_hash(config.fingerprint(layout))
        self.tree = output_tree(config)
        self.parts_sources = [self.tree] + ([OutputTree(config.parts_from)] if config.parts_from else [])
        bank = None
        if donors is not None:
            bank = DonorBank(donors, part_loader=self._donor_parts)
        self.occluder = Occluder(config.occlusion, bank)
        self._parser = parser

    def _donor_parts(self, candidate: Candidate):
        """A donor's saved part map: this output's own first, then --parts-from's."""
        for source in self.parts_sources:
            found = read_labels(source.part_path(candidate.relpath))
            if found is not None:
                return found
        return None

    @property
    def parser(self):
        if self._parser is None:
            options = dict(self.config.parser_options)
            if self.config.parser == "schp" and self.config.workers > 1:
                options.setdefault("threads", max(1, usable_cores() // self.config.workers))
            self._parser = build_parser(self.config.parser, options)
        return self._parser

    def _row(self, rec: Record, status: str, reason: str = "", **extra) -> dict:
        return manifest_row(self.config, rec, status, reason, **extra)

    def _cached_parts(self, rec: Record, digest: str):
        """A saved part map of this image (own output first, then --parts-from), the part source to
        record, and the SHA-1 of its file when it is this output's own (so the run state keeps
        accounting for it). This output's own maps keep the source they were made with, so a run
        resumed after a kill writes the same manifest as an uninterrupted one; maps taken from
        --parts-from are recorded as ``saved``."""
        for source in self.parts_sources:
            path = source.part_path(rec.relpath)
            found = read_part_map(path, self.config.parser, digest)
            if found is not None:
                own = source is self.tree
                kind = (found.source or (self.config.parser if found.parts is not None else "")) if own else "saved"
                return found, kind, (sha1_file(path) if own and self.config.save_parts else None)
        return None

    def _parse(self, pending: list[_Pending]) -> dict:
        """Parse the decoded images that have no saved part map, each as a viewer shows it (EXIF
        orientation applied), and bring the maps back to the stored pixels' orientation."""
        to_parse = [p for p in pending if p.saved is None]
        if not to_parse:
            return {}
        parser = self.parser  # built outside the per-image guard: a parser that cannot be built stops the run
        turns = [exif_orientation(p.data) for p in to_parse]
        views = [to_upright(p.decoded.rgb, t) for p, t in zip(to_parse, turns)]
        try:
            results = parser.parse_batch(views)
        except Exception:  # one bad image must not sink its chunk: retry one at a time
            results = []
            for view in views:
                try:
                    results.append(parser.parse(view))
                except Exception as exc:  # noqa: BLE001 - recorded in the manifest
                    results.append(exc)
        parsed = {}
        for p, turn, res in zip(to_parse, turns, results):
            if turn != 1 and isinstance(getattr(res, "parts", None), np.ndarray) and res.parts.ndim == 2:
                res = ParseResult(to_stored(res.parts, turn), res.reason, getattr(res, "source", ""),
                                  getattr(res, "score", None))
            parsed[p.record.relpath] = res
        return parsed

    def _read_decoded(self, records: list[Record], done: dict, facts: dict,
                      selected_only: bool = True) -> list[_Pending]:
        """Read and decode the records: a ``_Pending`` for each usable one; rows for the others go
        into ``done``."""
        cfg = self.config
        pending = []
        for rec in records:
            outputs: dict = {}
            try:
                data, st = read_input(cfg.input / rec.relpath, cfg.max_file_bytes)  # read
            except ImageError as exc:
                done[rec.relpath] = (self._row(rec, Status.ERROR, str(exc)), outputs)
                continue
            digest = hashlib.sha1(data).hexdigest()
            facts[rec.relpath] = (st.st_size, st.st_mtime_ns, digest)
            why_not = not_selected(cfg, self.roles, rec) if selected_only else ""
            if why_not:
                self._write(rec, "image", data, outputs)
                done[rec.relpath] = (self._row(rec, Status.NOT_SELECTED, why_not), outputs)
                continue
            try:
                dec = decode(data, cfg.max_pixels)  # decode
            except ImageError as exc:
                if selected_only:
                    self._write(rec, "image", data, outputs)  # keep the file, unchanged
                done[rec.relpath] = (self._row(rec, Status.ERROR, str(exc)), outputs)
                continue
            pending.append(_Pending(rec, data, dec, digest, self._cached_parts(rec, digest)))
        return pending

    def save_parts(self, records: list[Record]) -> int:
        """The parse phase of shapes that paste other images (person, scene): parse every image that
        has no saved part map yet and save its map, writing nothing else. Returns how many were parsed."""
        pending = self._read_decoded(records, {}, {}, selected_only=False)
        parsed = self._parse(pending)
        for rec, _data, dec, digest, _cached in pending:
            res = parsed.get(rec.relpath)
            if res is None or isinstance(res, Exception):
                continue  # the occlusion phase parses it again and records the error
            w, h = dec.size
            if getattr(res, "parts", None) is not None and _check_parts(res.parts, (h, w)):
                continue
            parts = None if res.parts is None else res.parts.astype(np.uint8, copy=False)
            self.tree.save_part_map(rec.relpath, parts, (h, w), self.config.parser, res.reason, digest,
                                    getattr(res, "source", "") or (self.config.parser if parts is not None else ""),
                                    getattr(res, "score", None))
        return len(parsed)

    def _write(self, rec: Record, kind: str, data: bytes, outputs: dict) -> None:
        outputs[kind] = self.tree.write_bytes(self.tree.output_path(kind, rec.relpath), data)

    def process(self, records: list[Record]) -> list[Entry]:
        cfg, tree = self.config, self.tree
        done: dict[str, tuple[dict, dict]] = {}  # relpath -> (row, outputs)
        facts: dict[str, tuple[int, int, str]] = {}  # relpath -> (size, mtime_ns, sha1)
        pending = self._read_decoded(records, done, facts)  # read, decode
        parsed = self._parse(pending)  # parse (upright), or reuse a saved part map below

        for rec, data, dec, digest, cached in pending:
            outputs: dict = {}
            w, h = dec.size
            if cached is not None:  # or reuse a saved part map
                saved, source, own_sha1 = cached
                parts, reason, presence = saved.parts, saved.reason, saved.presence
                if own_sha1:
                    outputs["parts"] = own_sha1
            else:
                res = parsed[rec.relpath]
                problem = (f"parser failed: {type(res).__name__}: {res}" if isinstance(res, Exception)
                           else "" if getattr(res, "parts", None) is None else _check_parts(res.parts, (h, w)))
                if problem:
                    self._write(rec, "image", data, outputs)
                    done[rec.relpath] = (self._row(rec, Status.ERROR, problem, width=w, height=h), outputs)
                    continue
                parts, reason = res.parts, res.reason
                source = getattr(res, "source", "") or (cfg.parser if parts is not None else "")
                presence = getattr(res, "score", None)
                if parts is not None:
                    parts = parts.astype(np.uint8, copy=False)
                if cfg.save_parts:
                    outputs["parts"] = tree.save_part_map(rec.relpath, parts, (h, w), cfg.parser, reason, digest,
                                                          source, presence)
            seen = dict(width=w, height=h, part_source=source,
                        presence=None if presence is None else float(presence))
            if parts is None:
                self._write(rec, "image", data, outputs)
                done[rec.relpath] = (self._row(rec, Status.NO_PERSON, reason or "no person", **seen), outputs)
                if cfg.save_masks:
                    outputs["masks"] = tree.save_mask(rec.relpath, np.zeros((h, w), bool))
                continue
            order = None
            if cfg.per == "tracklet" and rec.tracklet is not None:
                order = tracklet_order(cfg.seed, rng_key(f"{rec.split}/{rec.tracklet}"))
            try:
                occ = self.occluder.plan(parts, image_rng(cfg.seed, rng_key(rec.relpath)), rec, order)  # occlude
                body = encode(dec, self.occluder.apply(dec.pixels, occ), cfg.jpeg_quality) if occ.status == OCCLUDED \
                    else data  # encode
            except (ValueError, OSError, TypeError) as exc:  # an odd mode the encoder refuses
                self._write(rec, "image", data, outputs)
                done[rec.relpath] = (self._row(rec, Status.ERROR, f"cannot occlude or encode: {exc}", **seen), outputs)
                continue
            self._write(rec, "image", body, outputs)  # write
            if cfg.save_masks:
                outputs["masks"] = tree.save_mask(rec.relpath, occ.mask)
            pasted = {}
            if occ.donor or occ.part_covered is not None:
                pasted = dict(donor=occ.donor or "", part_covered=occ.part_covered)
            done[rec.relpath] = (self._row(
                rec, occ.status, occ.reason, part=occ.part_name, image_fraction=occ.image_fraction,
                person_fraction=occ.person_fraction, **seen, **pasted), outputs)
        entries = []
        for rec in records:
            row, outputs = done[rec.relpath]
            size, mtime_ns, sha1 = facts.get(rec.relpath, (-1, -1, ""))
            entries.append(Entry(rec.relpath, IMAGE, size, mtime_ns, sha1, self.params, outputs, row))
        return entries


def not_selected(cfg: GenerateConfig, layout: Layout, rec: Record) -> str:
    """Why the split policy leaves this image unoccluded ('' when it is to be occluded)."""
    if cfg.splits:
        role = layout.role(rec)
        if rec.split not in cfg.splits and role not in cfg.splits:
            return f"split policy: only {', '.join(cfg.splits)} occluded ({rec.split} is {role or 'unassigned'})"
    if cfg.fraction < 1.0:
        u = image_rng(cfg.seed, "select:" + rng_key(rec.relpath)).random()
        if u >= cfg.fraction:
            return f"split policy: {cfg.fraction:.0%} of each split occluded, this image not drawn"
    return ""


# -- checks before the first image ---------------------------------------------------------
def _check_options(cfg: GenerateConfig) -> None:
    if not 0.0 < cfg.fraction <= 1.0:
        raise RunError(f"fraction must be in (0, 1], got {cfg.fraction}")
    if not 0 <= cfg.seed <= SEED_MAX:
        raise RunError(f"seed must be in 0..{SEED_MAX} (32 bits), got {cfg.seed}")
    if cfg.engine not in ENGINES:
        raise RunError(f"--engine must be one of {', '.join(ENGINES)}, got {cfg.engine!r}")
    if cfg.ray_address and cfg.engine != "ray":
        raise RunError("--ray-address applies to --engine ray only.")
    if cfg.shard is not None and not (isinstance(cfg.shard, Shard) and 0 <= cfg.shard.index < cfg.shard.count):
        raise RunError(f"--shard {cfg.shard}: write it as I/N with 0 <= I < N.")
    if not (cfg.engine == "ray" and cfg.workers == 0) and int(cfg.workers) < 1:  # ray: 0 = the cluster's CPUs
        raise RunError(f"workers must be at least 1, got {cfg.workers}")
    for name, value in (("chunk_size", cfg.chunk_size), ("max_pixels", cfg.max_pixels),
                        ("max_file_bytes", cfg.max_file_bytes)):
        if int(value) < 1:
            raise RunError(f"{name} must be at least 1, got {value}")
    if cfg.per not in PER_CHOICES:
        raise RunError(f"--per must be one of {', '.join(PER_CHOICES)}, got {cfg.per!r}")
    if cfg.parts_from is not None and not (Path(cfg.parts_from) / STATE_DIR).is_dir():
        raise RunError(f"--parts-from {cfg.parts_from} is not an occreid output (it has no {STATE_DIR}/ folder).")


def _check_paths(cfg: GenerateConfig) -> None:
    src, dst = cfg.input.resolve(), cfg.output.resolve()
    if src == dst:
        raise RunError(f"--out is the input folder ({src}); occreid never writes into its input. Choose another --out.")
    if dst.is_relative_to(src):
        raise RunError(f"--out ({dst}) is inside the input ({src}); occreid never writes into its input. "
                       "Choose a folder outside it.")
    if src.is_relative_to(dst):
        raise RunError(f"the input ({src}) is inside --out ({dst}); choose an output folder that does not "
                       "contain the input.")
    if cfg.output.exists() and not cfg.output.is_dir():
        raise RunError(f"--out {cfg.output} exists and is not a folder; choose a folder.")


def check_splits(cfg: GenerateConfig, ds: Dataset) -> None:
    """Refuse ``--occlude`` names that are neither a role nor a split folder this dataset has."""
    if not cfg.splits:
        return
    layout = bound_layout(ds.layout, ds.root)
    roles = sorted({r for r in (layout.role(rec) for rec in ds.records) if r})
    splits = sorted({rec.split for rec in ds.records})
    unknown = [s for s in cfg.splits if s not in roles and s not in splits]
    if unknown:
        raise RunError(f"--occlude {','.join(unknown)}: not a split of this {ds.layout} dataset; use roles "
                       f"({', '.join(roles) or 'none'}) or split folders ({', '.join(splits)}).")


def build_parser(name: str, options: dict):
    """Build the parser (in the main process first, so a bad name, plugin or checkpoint stops the
    run before any image, with one sentence); RunError when it cannot be built."""
    from .parser import PARSERS
    from .registry import RegistryError

    if name in _EMBEDDED:
        _check_embedded(name)  # before the lookup: its lazy import would fail first, less clearly
    try:
        cls = PARSERS.lookup(name)  # built-ins and package.module:Class plugins, one path
    except RegistryError as exc:
        message = str(exc)
        raise RunError(message if message.startswith("unknown") else "--" + message) from None
    try:
        parser = cls(**options)
    except Exception as exc:  # noqa: BLE001 - any failure to build it is a configuration error
        raise RunError(f"--parser {name} cannot be built: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(parser, "parse", None)):
        raise RunError(f"--parser {name}: {type(parser).__name__} has no parse(rgb) method.")
    return parser


#: The embedded parsers and the packages each needs (checked, not imported, before the first image).
_EMBEDDED = {
    "mediapipe": (("mediapipe", "mediapipe==0.10.21"), ("ai_edge_litert", "ai-edge-litert==2.3.0")),
    "mediapipe-graph": (("mediapipe", "mediapipe==0.10.21"),),
}


def _check_embedded(name: str) -> None:
    for module, requirement in _EMBEDDED[name]:
        if importlib.util.find_spec(module) is None:
            raise RunError(f"--parser {name} needs the {requirement.split('==')[0]} package: "
                           f"pip install '{requirement}'.")


def _prebuilt_parser(cfg: GenerateConfig):
    """The parser built once in the main process (plugins and SCHP with its checkpoint); the embedded
    parsers are only checked to be installed, so reusing saved part maps stays fast."""
    if cfg.parser in _EMBEDDED:
        _check_embedded(cfg.parser)
        return None
    return build_parser(cfg.parser, dict(cfg.parser_options))


def _make_output(cfg: GenerateConfig, tree: OutputTree) -> None:
    try:
        tree.state.mkdir(parents=True, exist_ok=True)
        probe = tree.state / f".probe-{tmp_name()}"  # unique across hosts: shards start at once
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise OutputError(exc.errno or errno.EACCES, f"--out {cfg.output} is not writable ({exc.strerror or exc}); "
                          "choose a folder you can write to.") from None


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


def _free_space_check(cfg: GenerateConfig, needed: int) -> None:
    try:
        free = shutil.disk_usage(cfg.output).free
    except OSError:
        return
    if free < needed + _FREE_MARGIN:
        raise OutputError(errno.ENOSPC, f"--out {cfg.output} has {free / 2**20:.0f} MiB free but this run needs about "
                          f"{(needed + _FREE_MARGIN) / 2**20:.0f} MiB; free some space (the run resumes where it "
                          "stopped).")


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
        for kind, digest in entry.outputs.items():
            if sha1_file(tree.output_path(kind, entry.relpath)) != digest:
                return False
    except OSError:
        return False
    return "image" in entry.outputs


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
                and sha1_file(dst) == entry.outputs.get("copy"):
            return entry, {"relpath": rel, "action": "copied", "reason": ""}, False
        h = hashlib.sha1()
        tree.tmp.mkdir(parents=True, exist_ok=True)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = tree.tmp / tmp_name("-copy")
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                st = os.fstat(fin.fileno())
                while block := fin.read(1 << 20):
                    h.update(block)
                    fout.write(block)
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        on_output = bool(exc.filename) and str(exc.filename).startswith(str(tree.root))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or (
                on_output and exc.errno in (errno.EACCES, errno.EPERM)):
            raise OutputError(exc.errno, f"cannot write {dst}: {exc.strerror or exc}") from None
        return None, {"relpath": rel, "action": "skipped", "reason": f"cannot copy: {os_reason(exc)}"}, False
    digest = h.hexdigest()
    new = Entry(rel, COPY, st.st_size, st.st_mtime_ns, digest, params, {"copy": digest}, None)
    return new, {"relpath": rel, "action": "copied", "reason": ""}, True


def _test_fault(phase: str) -> None:
    """Test hook: ``OCCREID_TEST_KILL_AT=phase`` kills this process (SIGKILL) at that phase, like a
    kill -9 (the hostile-input suite uses it; nothing else sets it)."""
    if os.environ.get("OCCREID_TEST_KILL_AT") == phase:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def output_tree(cfg: GenerateConfig) -> OutputTree:
    """The output tree a run writes through: a shard's keeps its temporary files in its own folder."""
    if cfg.shard is not None:
        return sharding.shard_tree(cfg.output, cfg.shard)
    return OutputTree(cfg.output)


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
    _check_options(cfg)
    _check_paths(cfg)
    ds = dataset or read_dataset(cfg.input, cfg.layout)
    check_splits(cfg, ds)
    if cfg.per == "tracklet" and not getattr(DATASETS.get(ds.layout), "video", False):
        video = ", ".join(name for name, cls in DATASETS.items() if getattr(cls, "video", False))
        raise RunError(f"--per tracklet needs a video dataset ({video}); {ds.layout} has no tracklets.")
    if cfg.occlusion.shape in DONOR_SHAPES and not cfg.save_parts:
        cfg = replace(cfg, save_parts=True)  # donors are cut out by their part maps: keep them
    if cfg.shard is not None and cfg.occlusion.shape in DONOR_SHAPES:
        _check_donor_maps(cfg, ds)
    parser = _prebuilt_parser(cfg)
    tree = output_tree(cfg)
    fingerprint = cfg.fingerprint(ds.layout)
    params = params_hash(fingerprint)
    session = open_session(cfg)  # Ray started or joined before anything is written
    try:
        _make_output(cfg, tree)
        wanted = {r.relpath for r in ds.records}
        if cfg.shard is None:
            _no_shards(cfg, tree, wanted)
            state, resume = _open_state(cfg, tree, fingerprint, wanted)
        else:
            state, resume = _open_shard_state(cfg, tree, fingerprint, wanted)
        try:
            return _run(cfg, ds, tree, state, resume, fingerprint, params, parser, progress, session)
        finally:
            state.close()
    except StateFullError as exc:
        raise OutputError(exc.errno, exc.strerror) from None
    finally:
        if session is not None:
            session.close()


def _check_donor_maps(cfg: GenerateConfig, ds: Dataset) -> None:
    """Shards and pasted shapes (person, scene): a shard's images draw donors from every shard, so
    every donor's part map must exist before any shard starts; they come from --parts-from."""
    if cfg.parts_from is None:
        raise RunError(f"--shard with --shape {cfg.occlusion.shape} needs every image's part map before any shard "
                       "starts: save them first (generate --save-parts, sharded too), then pass that output as "
                       "--parts-from.")
    source = OutputTree(cfg.parts_from)
    missing = [r.relpath for r in ds.records if not source.part_path(r.relpath).is_file()]
    if missing:
        raise RunError(f"--parts-from {cfg.parts_from} lacks the part maps of {len(missing)} of {len(ds.records)} "
                       f"images (e.g. {missing[0]}); with --shard and --shape {cfg.occlusion.shape} every image "
                       "needs one: finish the --save-parts run first.")


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
        path = sharding.shard_dir(tree, shard) / "state.sqlite"
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
    state, resume = _open_state(cfg, tree, fingerprint, wanted, state_file=folder / "state.sqlite",
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
        write_json(tree, tree.run_file, {"fingerprint": fingerprint, "occreid": __version__,
                                         "input": str(cfg.input.resolve())})
    _test_fault("after-start")
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
        rec = layout_record(layout, listed, rel)
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
    _free_space_check(cfg, needed)

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
            _test_fault("after-commit")
            for e in chunk_entries:
                rows[e.relpath] = e.row
            if progress:
                progress(advance=len(chunk_entries))
        engine.close()
    except BaseException:
        if engine is not None:
            engine.stop()
        raise

    _test_fault("before-export")
    final = [rows[r.relpath] for r in records] + odd_rows
    if cfg.shard is None:
        summary = sharding.export(tree, final, other_rows, ds.layout, warnings)
        tree.clear_tmp()
        return RunResult(rows=final, summary=summary, warnings=warnings, skipped=len(finished), copied=copied,
                         other_files=other_rows, removed=len(gone), redone=redone)
    listing = sharding.listing_digest([r.relpath for r in ds.records], list(ds.other_files), odd_names)
    sharding.finish(tree, cfg.shard, final, other_rows, {
        "fingerprint": fingerprint, "listing": listing, "layout": ds.layout, "warnings": warnings,
        "input": str(cfg.input.resolve()), "occreid": __version__})
    _test_fault("after-shard")
    waiting = sharding.pending(tree, cfg.shard.count, fingerprint)
    if not waiting:  # the last shard to finish (or one of several finishing at once: same bytes) merges
        sharding.merge(cfg.output, tmp=tree.tmp)
    tree.clear_tmp()
    return RunResult(rows=final, summary=summarize(final), warnings=warnings, skipped=len(finished), copied=copied,
                     other_files=other_rows, removed=len(gone), redone=redone, shard=cfg.shard,
                     merged=not waiting, waiting=waiting)
