"""What a generate run saved, read back in one place: its parameters (``run.json``) and its part maps.

The runner (reusing maps with ``--parts-from``), ``augment.OccludeTransform`` (occluding at training
time), the report and the donor bank all read these; this module is their one reader, so the
layout of ``OUT/_occreid`` and the checks on what is read are written once::

    OUT/_occreid/run.json             {"fingerprint": {..., "seed", "occlusion": {...}}, "input", "occreid"}
    OUT/_occreid/parts/<relpath>.png  palette PNG of labels 0..6, with the parser, the part source,
                                      the reason ("no person" maps are all background), the person
                                      score, the part-quality score and the SHA-1 of the source image in its text chunks

occreid writes part maps as 8-bit palette PNGs whose rows are stored unfiltered (``writer``), so
reading one back is a zlib inflate and a reshape (``_plain_png``, with every chunk's CRC checked);
any other PNG, such as the 4-bit maps of format version 2, is read by Pillow, to the same labels.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .datasets.records import STATE_DIR
from .images import MAX_PIXELS, ImageError
from .inputs import read_side_file
from .parts import NUM_LABELS

if TYPE_CHECKING:
    from .occlusion import OcclusionParams

RUN_FILE = "run.json"
PARTS_DIR = "parts"
#: The fields of ``OcclusionParams`` that JSON turns from tuples into lists.
_TUPLE_FIELDS = ("target", "rect_sides", "rect_fraction", "person_scale", "person_drop", "object_size")


class RunFileError(ValueError):
    """``run.json`` is missing, damaged or not occreid's; the message says which and what to do."""


# -- the run's parameters -----------------------------------------------------------------------
def run_file(output_root: str | Path) -> Path:
    """Where a run's parameters lie: ``OUT/_occreid/run.json``."""
    return Path(output_root) / STATE_DIR / RUN_FILE


def read_run_file(output_root: str | Path) -> dict:
    """``run.json`` of an output root as a dict; RunFileError (one sentence) when it cannot be read."""
    path = run_file(output_root)
    if not os.path.lexists(path):
        raise RunFileError(f"{path} does not exist: is {output_root} an occreid output?")
    try:  # a regular file of bounded size: a FIFO there never blocks augment, report or a resume
        info = json.loads(read_side_file(path).decode("utf-8"))
    except (OSError, ValueError, ImageError) as exc:
        raise RunFileError(f"{path} cannot be read ({exc}); rerun the generate command to rewrite it.") from None
    if not isinstance(info, dict) or not isinstance(info.get("fingerprint"), dict):
        raise RunFileError(f"{path} holds no run fingerprint; rerun the generate command to rewrite it.")
    return info


def params_from_fingerprint(occlusion: dict) -> OcclusionParams:
    """The ``OcclusionParams`` a fingerprint's ``occlusion`` entry records (lists back to tuples)."""
    from .occlusion import OcclusionParams

    fields = dict(occlusion)
    for key in _TUPLE_FIELDS:
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return OcclusionParams(**fields)


@dataclass(frozen=True)
class SavedRun:
    """A run's parameters: the occlusion, the seed, the input folder and the whole fingerprint."""

    root: Path
    params: OcclusionParams
    seed: int
    input: Path | None
    fingerprint: dict


def read_run(output_root: str | Path) -> SavedRun:
    """The parameters of the run at ``output_root``; RunFileError (one sentence) when ``run.json``
    is missing, damaged, or records parameters this version cannot rebuild."""
    info = read_run_file(output_root)
    fp = info["fingerprint"]
    path = run_file(output_root)
    try:
        params = params_from_fingerprint(fp["occlusion"])
        seed = int(fp["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFileError(f"{path} cannot be read ({exc}); rerun the generate command to rewrite it.") from None
    return SavedRun(Path(output_root), params, seed, Path(info["input"]) if info.get("input") else None, fp)


# -- part maps ------------------------------------------------------------------------------------
def parts_dir(output_root: str | Path) -> Path:
    """The folder of a run's saved part maps: ``OUT/_occreid/parts``."""
    return Path(output_root) / STATE_DIR / PARTS_DIR


def part_map_path(output_root: str | Path, relpath: str) -> Path:
    """Where the part map of the image at ``relpath`` (relative to the dataset root) is saved."""
    return Path(os.path.join(output_root, STATE_DIR, PARTS_DIR, f"{relpath}.png"))


@dataclass(frozen=True)
class SavedParts:
    """A saved part map: parts (None: no person), reason, and the source, person score and
    part-quality score recorded when it was made."""

    parts: np.ndarray | None
    reason: str
    source: str
    presence: float | None = None
    quality: float | None = None  # the part-quality score; None in maps saved before it existed


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: IHDR's bit depth, colour type (palette), compression, filter method and interlace of the maps occreid writes.
_PLAIN_HEADER = (8, 3, 0, 0, 0)


class _TooLarge(Exception):
    """A part map whose header declares more pixels than allowed: refused before inflating it."""


def _plain_png(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, dict] | None:
    """The labels and text of a PNG as occreid writes part maps (8-bit palette, not interlaced,
    every row unfiltered, text in tEXt chunks), read with zlib alone; None for anything else, or
    anything damaged (a CRC that does not match, no IEND), which Pillow then reads or refuses."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, end, size, idat, text = 8, len(data), None, [], {}
    try:
        while True:
            length, kind = struct.unpack_from(">I4s", data, pos)
            body_end = pos + 8 + length
            if body_end + 4 > end:
                return None
            body = data[pos + 8:body_end]
            if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, body_end)[0]:
                return None
            if kind == b"IHDR" and size is None:
                width, height, *header = struct.unpack(">IIBBBBB", body)
                if tuple(header) != _PLAIN_HEADER:
                    return None
                size = (height, width)
                if width * height > max_pixels:
                    raise _TooLarge
            elif size is None:
                return None  # IHDR comes first
            elif kind == b"IDAT":
                idat.append(body)
            elif kind == b"tEXt":
                key, _, value = body.partition(b"\0")
                text[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"IEND":
                break
            elif kind != b"PLTE":
                return None  # iTXt, zTXt, tRNS...: Pillow's
            pos = body_end + 4
        height, width = size
        expected = height * (width + 1)
        inflate = zlib.decompressobj()
        raw = inflate.decompress(b"".join(idat), expected + 1)  # never more than the header declares
    except (struct.error, zlib.error):
        return None
    if len(raw) != expected or not inflate.eof:
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None  # a filtered row: Pillow undoes filters
    return rows[:, 1:].copy(), text


def _open(path: str | Path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, dict] | None:
    """A part-map PNG's labels and text chunks; None when missing, damaged, not a map of 0..6, not a
    regular file (a FIFO or device is never read: ``inputs.read_side_file``), over 64 MiB, or
    declaring more than ``max_pixels`` pixels (refused before inflating: a 1 MB map of 30000 x
    30000 pixels would cost 1.8 GB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        raw = read_side_file(path)  # one read, then decoded from memory: far fewer system calls
        plain = _plain_png(raw, max_pixels)
        if plain is not None:
            arr, info = plain
        else:
            data = io.BytesIO(raw)
            try:
                im = Image.open(data, formats=("PNG",))  # what occreid writes: no probing of other formats
            except UnidentifiedImageError:
                data.seek(0)
                im = Image.open(data)
            with im:
                if im.size[0] * im.size[1] > max_pixels:
                    return None
                arr, info = np.array(im), dict(im.info)
    except (OSError, ValueError, SyntaxError, MemoryError, _TooLarge):
        return None
    if arr.ndim != 2 or arr.dtype != np.uint8 or arr.max(initial=0) >= NUM_LABELS:
        return None
    return arr, info


def read_labels(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """A saved part map's labels (H x W uint8, 0..6; all 0 for a "no person" map), whoever made it;
    None when the file is missing, damaged, not such a map or larger than ``max_pixels``."""
    opened = _open(path, max_pixels)
    return None if opened is None else opened[0]


def read_part_map(path: str | Path, parser: str | None = None, source_sha1: str | None = None,
                  shape: tuple[int, int] | None = None) -> SavedParts | None:
    """A saved part map with what was recorded with it; None when there is none, it is damaged, or
    (when ``parser`` / ``source_sha1`` / ``shape`` (H, W) are given) it was made by another parser,
    from other bytes or for an image of another size, so that a run reuses a map only for the same
    image and parser (and parses the image again otherwise)."""
    opened = _open(path, MAX_PIXELS if shape is None else max(1, shape[0] * shape[1]))
    if opened is None:
        return None
    arr, info = opened
    if shape is not None and arr.shape != tuple(shape):
        return None
    if parser is not None and info.get("occreid-parser") != parser:
        return None
    if source_sha1 is not None and info.get("occreid-source-sha1") != source_sha1:
        return None
    reason, source = info.get("occreid-reason", ""), info.get("occreid-part-source", "")
    presence = _float_or_none(info.get("occreid-presence", ""))
    if reason or not arr.any():
        return SavedParts(None, reason or "no person", source, presence)
    return SavedParts(arr, "", source, presence, _float_or_none(info.get("occreid-part-quality", "")))


def _float_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


__all__ = [
    "PARTS_DIR", "RUN_FILE", "RunFileError", "SavedParts", "SavedRun", "params_from_fingerprint", "part_map_path",
    "parts_dir", "read_labels", "read_part_map", "read_run", "read_run_file", "run_file",
]
