"""One worker's share of a run: its parser, and each chunk of images through read -> decode ->
parse (upright, or reuse a saved part map) -> occlude with the image's own seeded generator ->
encode -> write. It returns the chunk's state entries; the main process commits them. An engine
(``engines.py``) holds one ``Worker`` per process or Ray actor."""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import numpy as np

from .config import GenerateConfig
from .cores import usable_cores
from .datasets import Layout, Record
from .images import Decoded, ImageError, decode, encode
from .inputs import read_input, sha1_file
from .occlusion import OCCLUDED, Candidate, DonorBank, Occluder, image_rng, relpath_rng, rng_key, tracklet_order
from .orientation import exif_orientation, to_stored, to_upright
from .output import OutputError, OutputTree, parts_dir
from .parser import ParseResult, build_parser, parser_class
from .parser.quality import part_quality
from .partmaps import read_labels, read_part_map
from .plan import RunPlan
from .state import IMAGE, Entry
from .status import Status

#: What each kind of output is called in an error row's reason.
_OUTPUT_WORDS = {"image": "the image", "parts": "its part map", "masks": "its mask"}


class _WriteFailed(Exception):
    """An output of one image could not be written (not a full or read-only disk): its error row."""

    def __init__(self, kind: str, exc: OSError):
        super().__init__(kind, exc)
        self.kind, self.exc = kind, exc


def _read_bytes(path) -> bytes | None:
    """A --parts-from map's bytes, to save into this output unchanged (None if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _check_parts(parts, shape: tuple[int, int]) -> str:
    """Why a parser's part map cannot be used ('' when it can)."""
    if not isinstance(parts, np.ndarray):
        return f"parser returned {type(parts).__name__}, not a NumPy part map"
    if parts.shape != shape:
        return f"parser returned a {parts.shape} part map for a {shape} image"
    if not np.issubdtype(parts.dtype, np.integer) or parts.min(initial=0) < 0 or parts.max(initial=0) > 6:
        return "parser returned labels outside 0..6"
    return ""


class _Pending(NamedTuple):
    """An image read and decoded, on its way to the parser (or to its saved part map)."""

    record: Record
    data: bytes  # the file's bytes: kept as they are when the image is not occluded
    decoded: Decoded
    digest: str  # SHA-1 of ``data``: which saved part maps belong to it
    saved: tuple | None  # (SavedParts, part source, SHA-1 of our own map file or None); None: parse it


class Worker:
    """What one process holds: the run's plan, its parser (built on first use) and the occluder
    (with the donor bank when the shape pastes other images of the dataset). ``threads``: the
    parser's threads when the engine decides them (a Ray actor has one CPU)."""

    def __init__(self, plan: RunPlan, parser=None, threads: int | None = None):
        self.plan = plan
        self.config = plan.config
        self.roles, self.params, self.tree = plan.roles, plan.params, plan.tree
        self.parts_sources = ([OutputTree(self.config.parts_from)] if self.config.parts_from else []) + [self.tree]
        bank = None
        if plan.donors is not None:
            bank = DonorBank(plan.donors, part_loader=self._donor_parts)
        self.occluder = Occluder(self.config.occlusion, bank)
        self._parser = parser
        self._threads = threads

    def _donor_parts(self, candidate: Candidate):
        """A donor's saved part map: this output's own first, then --parts-from's."""
        for source in self.parts_sources[::-1]:
            found = read_labels(source.part_path(candidate.relpath))
            if found is not None:
                return found
        return None

    @property
    def parser(self):
        if self._parser is None:
            options = dict(self.config.parser_options)
            if self._threads is not None:
                options["threads"] = self._threads
            elif getattr(parser_class(self.config.parser), "takes_threads", False) and self.config.workers > 1:
                options.setdefault("threads", max(1, usable_cores() // self.config.workers))
            self._parser = build_parser(self.config.parser, options)
        return self._parser

    def _row(self, rec: Record, status: Status, reason: str = "", **extra) -> dict:
        return self.plan.row(rec, status, reason, **extra)

    def _map_sources(self) -> list[OutputTree]:
        """The trees whose saved part maps a chunk looks up: those that hold any. Looked at once per
        chunk: no other process writes the maps of this chunk's images meanwhile."""
        return [s for s in self.parts_sources if os.path.isdir(parts_dir(s.root))]

    def _cached_parts(self, rec: Record, digest: str, sources: list[OutputTree], shape=None):
        """A saved part map of this image (--parts-from first, then this output's own), the part
        source to record, and with --save-parts the SHA-1 of its file when it is this output's own
        (so the run state keeps accounting for it) or the bytes of --parts-from's file (saved into
        this output unchanged). This output's own maps keep the source they were made with; maps
        taken from --parts-from are recorded as ``saved``, also when a killed run had already
        copied them here, so a resumed run writes the same manifest as an uninterrupted one. A map
        of another ``shape`` than the image is not used: the image is parsed again."""
        for source in sources:
            path = source.part_path(rec.relpath)
            found = read_part_map(path, self.config.parser, digest, shape)  # another size: parsed again
            if found is not None:
                if source is not self.tree:
                    return found, "saved", (_read_bytes(path) if self.config.save_parts else None)
                kind = found.source or (self.config.parser if found.parts is not None else "")
                return found, kind, (sha1_file(path) if self.config.save_parts else None)
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
                except Exception as exc:
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
        sources = self._map_sources()
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
            try:
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
            except _WriteFailed as failure:
                done[rec.relpath] = self._write_failed(rec, None, failure, outputs)
                continue
            pending.append(_Pending(rec, data, dec, digest, self._cached_parts(rec, digest, sources, dec.size[::-1])))
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
            try:
                self.tree.save_part_map(rec.relpath, parts, (h, w), self.config.parser, res.reason, digest,
                                        getattr(res, "source", "") or (self.config.parser if parts is not None else ""),
                                        getattr(res, "score", None))
            except OutputError:
                raise
            except OSError:
                continue  # the occlusion phase tries again and records the error against the image
        return len(parsed)

    def _write(self, rec: Record, kind: str, data: bytes, outputs: dict) -> None:
        self._put(kind, outputs, lambda: self.tree.write_bytes(self.tree.output_path(kind, rec.relpath), data))

    @staticmethod
    def _put(kind: str, outputs: dict, write) -> None:
        """``outputs[kind] = write()``; an OSError other than a full or read-only output (which
        stops the run: OutputError) becomes ``_WriteFailed``, that image's error row."""
        try:
            outputs[kind] = write()
        except OutputError:
            raise
        except OSError as exc:
            raise _WriteFailed(kind, exc) from None

    def _write_failed(self, rec: Record, data: bytes | None, failure: _WriteFailed, outputs: dict, **seen) -> tuple:
        """The error row of an image whose output could not be written (a name too long for the
        file system, a folder where the file goes, a link on the way...); the unchanged copy is
        kept where it can be written, as for every error."""
        exc = failure.exc
        reason = f"cannot write {_OUTPUT_WORDS[failure.kind]}: {exc.strerror or exc}"
        if failure.kind != "image" and data is not None:
            try:
                self._write(rec, "image", data, outputs)
            except _WriteFailed:
                pass
        return self._row(rec, Status.ERROR, reason, **seen), outputs

    def process(self, records: list[Record]) -> list[Entry]:
        done: dict[str, tuple[dict, dict]] = {}  # relpath -> (row, outputs)
        facts: dict[str, tuple[int, int, str]] = {}  # relpath -> (size, mtime_ns, sha1)
        pending = self._read_decoded(records, done, facts)  # read, decode
        parsed = self._parse(pending)  # parse (upright), or reuse a saved part map below
        for p in pending:
            outputs: dict = {}
            w, h = p.decoded.size
            try:
                done[p.record.relpath] = self._occlude(p, parsed, outputs)
            except _WriteFailed as failure:
                done[p.record.relpath] = self._write_failed(p.record, p.data, failure, outputs, width=w, height=h)
        entries = []
        for rec in records:
            row, outputs = done[rec.relpath]
            size, mtime_ns, sha1 = facts.get(rec.relpath, (-1, -1, ""))
            entries.append(Entry(rec.relpath, IMAGE, size, mtime_ns, sha1, self.params, outputs, row))
        return entries

    def _saved(self, rec: Record, cached: tuple, outputs: dict) -> tuple:
        """A saved part map reused: (parts, reason, source, presence, quality); --parts-from's map
        is saved into this output too (--save-parts)."""
        saved, source, own = cached
        if isinstance(own, bytes):
            self._put("parts", outputs, lambda: self.tree.write_bytes(self.tree.part_path(rec.relpath), own))
        elif own:
            outputs["parts"] = own
        return saved.parts, saved.reason, source, saved.presence, saved.quality

    def _parsed(self, p: _Pending, parsed: dict, outputs: dict) -> tuple | str:
        """The parser's result for one image: (parts, reason, source, presence, quality), saved with
        --save-parts; or why it cannot be used (the image's error row)."""
        cfg, rec = self.config, p.record
        w, h = p.decoded.size
        res = parsed[rec.relpath]
        problem = (f"parser failed: {type(res).__name__}: {res}" if isinstance(res, Exception)
                   else "" if getattr(res, "parts", None) is None else _check_parts(res.parts, (h, w)))
        if problem:
            return problem
        parts, reason = res.parts, res.reason
        source = getattr(res, "source", "") or (cfg.parser if parts is not None else "")
        presence = getattr(res, "score", None)
        if parts is not None:
            parts = parts.astype(np.uint8, copy=False)
        quality = getattr(res, "quality", None)
        if quality is None and parts is not None:  # a parser without its own: the map's consistency alone
            quality = part_quality(parts)
        if cfg.save_parts:
            self._put("parts", outputs, lambda: self.tree.save_part_map(rec.relpath, parts, (h, w), cfg.parser, reason,
                                                                        p.digest, source, presence, quality))
        return parts, reason, source, presence, quality

    def _occlude(self, p: _Pending, parsed: dict, outputs: dict) -> tuple[dict, dict]:
        """One decoded image: its parts (saved or parsed) -> occlude -> encode -> write; its row
        and outputs. _WriteFailed when an output cannot be written."""
        cfg, tree = self.config, self.tree
        rec, data, dec, _digest, cached = p
        w, h = dec.size
        found = self._saved(rec, cached, outputs) if cached is not None else self._parsed(p, parsed, outputs)
        if isinstance(found, str):  # the parser failed, or returned a map that cannot be used
            self._write(rec, "image", data, outputs)
            return self._row(rec, Status.ERROR, found, width=w, height=h), outputs
        parts, reason, source, presence, quality = found
        seen = dict(width=w, height=h, part_source=source, presence=None if presence is None else float(presence),
                    part_quality=None if quality is None or parts is None else float(quality))
        if parts is None:
            self._write(rec, "image", data, outputs)
            if cfg.save_masks:
                self._put("masks", outputs, lambda: tree.save_mask(rec.relpath, np.zeros((h, w), bool)))
            return self._row(rec, Status.NO_PERSON, reason or "no person", **seen), outputs
        order = None
        if cfg.per == "tracklet" and rec.tracklet is not None:
            order = tracklet_order(cfg.seed, rng_key(f"{rec.split}/{rec.tracklet}"))
        try:
            occ = self.occluder.plan(parts, relpath_rng(cfg.seed, rec.relpath), rec, order)  # occlude
            body = encode(dec, self.occluder.apply(dec.pixels, occ), cfg.jpeg_quality) if occ.status == OCCLUDED \
                else data  # encode
        except (ValueError, OSError, TypeError) as exc:  # an odd mode the encoder refuses
            self._write(rec, "image", data, outputs)
            return self._row(rec, Status.ERROR, f"cannot occlude or encode: {exc}", **seen), outputs
        self._write(rec, "image", body, outputs)  # write
        if cfg.save_masks:
            self._put("masks", outputs, lambda: tree.save_mask(rec.relpath, occ.mask))
        pasted = {}
        if occ.donor or occ.part_covered is not None:
            pasted = dict(donor=occ.donor or "", part_covered=occ.part_covered)
        return self._row(rec, occ.status, occ.reason, part=occ.part_name, image_fraction=occ.image_fraction,
                         person_fraction=occ.person_fraction, **seen, **pasted), outputs


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
