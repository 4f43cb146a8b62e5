"""Writer: mirrors the input layout under the output root, atomically, with a manifest row per image.

Output root::

    OUT/<same tree as the input>          occluded images, other files copied unchanged
    OUT/_occreid/run.json                 the parameters of the run (a rerun must match them)
    OUT/_occreid/manifest.csv             one row per image, sorted by path (written at the end)
    OUT/_occreid/journal.csv              rows appended as images finish (what a resume reads)
    OUT/_occreid/parts/<relpath>.png      part maps   (--save-parts; reused by later runs)
    OUT/_occreid/masks/<relpath>.png      occluder masks (--save-masks)

Every file is written to a temporary file in ``_occreid/tmp`` and renamed into place, so a killed
run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from .layout import STATE_DIR
from .parts import PALETTE

MANIFEST_FIELDS = (
    "relpath", "split", "pid", "camera", "clothes", "status", "reason", "part", "preset", "part_choice",
    "image_fraction", "person_fraction", "width", "height", "parser", "seed",
    "pool_levels", "pool_kernel", "threshold", "fill",
)
#: Row statuses: occluded, part_absent (paper part choice drew an absent part), no_person,
#: not_selected (left unoccluded by the split policy), error.
STATUSES = ("occluded", "part_absent", "no_person", "not_selected", "error")


@dataclass
class ManifestRow:
    relpath: str
    split: str
    pid: int | None
    camera: int | None
    clothes: str | None
    status: str
    reason: str
    part: str
    preset: str
    part_choice: str
    image_fraction: float | None
    person_fraction: float | None
    width: int | None
    height: int | None
    parser: str
    seed: int
    pool_levels: int
    pool_kernel: int
    threshold: float
    fill: str

    def to_csv(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = "" if v is None else (f"{v:.6f}" if isinstance(v, float) else str(v))
        return out


assert tuple(f.name for f in fields(ManifestRow)) == MANIFEST_FIELDS


class OutputTree:
    """Paths and atomic writes under one output root."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.state = self.root / STATE_DIR
        self.tmp = self.state / "tmp"
        self.run_file = self.state / "run.json"
        self.journal_file = self.state / "journal.csv"
        self.manifest_file = self.state / "manifest.csv"
        self.summary_file = self.state / "summary.json"

    def image_path(self, relpath: str) -> Path:
        return self.root / relpath

    def part_path(self, relpath: str) -> Path:
        return self.state / "parts" / f"{relpath}.png"

    def mask_path(self, relpath: str) -> Path:
        return self.state / "masks" / f"{relpath}.png"

    # -- atomic writes ---------------------------------------------------------------------
    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` through a temporary file and a rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{os.getpid()}-{path.name}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def copy_file(self, src: Path, relpath: str) -> None:
        """Copy a file unchanged (bytes and modification time) into the mirrored tree."""
        dst = self.root / relpath
        dst.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{os.getpid()}-{dst.name}"
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)

    def clear_tmp(self) -> None:
        """Remove temporary files a killed run left behind."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- side outputs ----------------------------------------------------------------------
    def save_part_map(self, relpath: str, parts: np.ndarray | None, shape: tuple[int, int],
                      parser: str, reason: str, source_sha1: str) -> None:
        """Save a part map as a palette PNG; a "no person" result is saved as an all-background
        map. PNG text keeps the parser, its reason and the SHA-1 of the source image's bytes,
        so a later run reuses the map only for the same image and parser."""
        arr = parts if parts is not None else np.zeros(shape, np.uint8)
        pal = Image.fromarray(arr.astype(np.uint8))  # mode L; putpalette turns it into P
        pal.putpalette([c for rgb in PALETTE for c in rgb])
        meta = PngImagePlugin.PngInfo()
        meta.add_text("occreid-parser", parser)
        meta.add_text("occreid-reason", reason if parts is None else "")
        meta.add_text("occreid-source-sha1", source_sha1)
        buf = io.BytesIO()
        pal.save(buf, format="PNG", pnginfo=meta)
        self.write_bytes(self.part_path(relpath), buf.getvalue())

    def save_mask(self, relpath: str, mask: np.ndarray) -> None:
        buf = io.BytesIO()
        Image.fromarray(mask.astype(bool)).save(buf, format="PNG")
        self.write_bytes(self.mask_path(relpath), buf.getvalue())


def load_part_map(path: Path, parser: str, source_sha1: str) -> tuple[np.ndarray | None, str] | None:
    """A saved part map of this source image made by ``parser``: (parts or None, reason); None
    when there is none (or it was made by another parser or from other bytes)."""
    if not path.exists():
        return None
    try:
        with Image.open(path) as im:
            if im.info.get("occreid-parser") != parser or im.info.get("occreid-source-sha1") != source_sha1:
                return None
            arr = np.array(im)
            reason = im.info.get("occreid-reason", "")
    except (OSError, ValueError):
        return None
    if reason or not arr.any():
        return None, reason or "no person"
    return arr.astype(np.uint8), ""


# -- journal and manifest ------------------------------------------------------------------
class Journal:
    """Rows appended as images finish; a resumed run reads it to skip finished images."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def read(self) -> dict[str, dict]:
        """Complete rows by relpath (a torn last line from a killed run is ignored)."""
        if not self.path.exists():
            return {}
        rows: dict[str, dict] = {}
        with open(self.path, newline="", encoding="utf-8") as fh:
            text = fh.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]
        for row in csv.DictReader(lines):
            if None in row or any(v is None for v in row.values()) or row.get("status") not in STATUSES:
                continue
            rows[row["relpath"]] = row
        return rows

    def open(self, reset: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if reset and self.path.exists():
            self.path.unlink()
        new = not self.path.exists()
        if not new:  # drop a torn last line so appends start on a fresh line
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                self.path.write_bytes(data[: data.rfind(b"\n") + 1])
        self._fh = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=MANIFEST_FIELDS)
        if new:
            self._writer.writeheader()

    def append(self, rows: list[dict]) -> None:
        self._writer.writerows(rows)
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def write_manifest(tree: OutputTree, rows: list[dict]) -> None:
    """The final manifest: one row per image, sorted by relpath, written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r["relpath"]))
    tree.write_bytes(tree.manifest_file, buf.getvalue().encode("utf-8"))


def read_manifest(path: Path) -> list[dict]:
    """Rows of a manifest.csv (a path to the file or to an output root)."""
    path = Path(path)
    if path.is_dir():
        path = OutputTree(path).manifest_file
    if not path.exists():
        raise FileNotFoundError(f"no manifest at {path}: is this an occreid output, and has its run finished?")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_json(tree: OutputTree, path: Path, obj) -> None:
    tree.write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))
