"""The part-map file, written and read in one place: an 8-bit palette PNG of labels 0..6 (``parts.py``)
with the parser, the part source, the reason ("no person" maps are all background), the person score
and the SHA-1 of the source image in its text chunks::

    OUT/_occreid/parts/<relpath>.png   (where it lies: ``output.part_map_path``)

occreid writes part maps with every row stored unfiltered (``encode_part_map``), so reading one back
is a zlib inflate and a reshape (``_plain_png``, with every chunk's CRC checked); any other PNG, such
as the 4-bit maps of format version 2, is read by Pillow, to the same labels. A low module: the
worker, the donor bank, ``augment``, the report, ``labels`` and ``bench`` all read maps, and the
output tree writes them.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from .images import MAX_PIXELS
from .inputs import read_side_file
from .parts import NUM_LABELS, PALETTE

#: The part maps' palette: the 7 label colours, padded to 17 entries so that Pillow writes 8 bits
#: per pixel (it packs 16 colours or fewer into 4) and leaves each row unfiltered, as it does for
#: 8-bit palette images: smaller files than 4-bit ones here, read back with zlib alone (``_plain_png``).
_MAP_PALETTE = [c for rgb in PALETTE for c in rgb] + [0, 0, 0] * (17 - len(PALETTE))


def encode_part_map(parts: np.ndarray | None, shape: tuple[int, int], parser: str, reason: str, source_sha1: str,
                    source: str = "", presence: float | None = None, quality: float | None = None) -> bytes:
    """A part map as palette-PNG bytes; a "no person" result (``parts`` None) is an all-background
    map. PNG text keeps the parser, the part source (pose, silhouette...), its reason, the SHA-1 of
    the source image's bytes and the map's part-quality score, so a later run reuses the map only for
    the same image and parser, and can say where its parts came from and how far they can be trusted."""
    arr = parts if parts is not None else np.zeros(shape, np.uint8)
    pal = Image.fromarray(arr.astype(np.uint8))  # mode L; putpalette turns it into P
    pal.putpalette(_MAP_PALETTE)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("occreid-parser", parser)
    meta.add_text("occreid-reason", reason if parts is None else "")
    meta.add_text("occreid-source-sha1", source_sha1)
    meta.add_text("occreid-part-source", source)
    meta.add_text("occreid-presence", "" if presence is None else f"{float(presence):.6f}")
    if quality is not None and parts is not None:  # the part-quality score (maps before it have none)
        meta.add_text("occreid-part-quality", f"{float(quality):.6f}")
    buf = io.BytesIO()
    pal.save(buf, format="PNG", pnginfo=meta)
    return buf.getvalue()


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


__all__ = ["SavedParts", "encode_part_map", "read_labels", "read_part_map"]
