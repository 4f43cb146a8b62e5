"""Writer: mirrors the input layout under the output root, atomically, with a manifest row per image.

Output root::

    OUT/<same tree as the input>          occluded images, other files copied unchanged
    OUT/_occreid/state.sqlite             the run state (SQLite, WAL): what a resume verifies and trusts
    OUT/_occreid/run.json                 the parameters of the run (for people and OccludeTransform)
    OUT/_occreid/manifest.csv             one row per image, sorted by path (exported from the state)
    OUT/_occreid/other_files.csv          every other input file: copied, or skipped and why
    OUT/_occreid/parts/<relpath>.png      part maps   (--save-parts; reused by later runs)
    OUT/_occreid/masks/<relpath>.png      occluder masks (--save-masks)
    OUT/_occreid/shards/I-of-N/           a shard's own state, temporary files and share of the manifest

Every file is written atomically and inside the output root (``output.py``, ``containment.py``).
The manifest is UTF-8 written by the csv module; a file name that is not valid UTF-8 keeps its
exact bytes there (Python's ``surrogateescape``), so every name the OS allows round-trips.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .containment import UnsafePath  # noqa: F401  (re-exported: what a refused write raises)
from .errors import OccreidError
from .output import OUTPUT_ERRNOS, SUMMARY_FILE, OutputError, OutputTree, tmp_name  # noqa: F401  (re-exported)
from .partmaps import SavedParts  # noqa: F401  (re-exported)
from .partmaps import read_part_map as load_part_map  # noqa: F401  (re-exported)
from .status import STATUSES, Status  # the manifest accepts exactly these (status.py says what each means)

#: Encoding of the manifest and other_files.csv: UTF-8, with non-UTF-8 file names kept as their bytes.
ENCODING, ERRORS = "utf-8", "surrogateescape"
class ManifestError(OccreidError, ValueError):
    """A manifest that is damaged, cut short or not occreid's; the message says which and where."""


@dataclass(kw_only=True)
class ManifestRow:
    """One manifest row, its fields in column order. Adding a column is one line here (with a
    default) plus the value where the runner knows it (``worker.Worker._row(..., column=value)``)."""

    relpath: str
    split: str
    pid: int | None
    camera: int | None
    clothes: str | None
    status: Status
    reason: str
    part: str = ""
    preset: str
    part_choice: str
    image_fraction: float | None = None
    person_fraction: float | None = None
    width: int | None = None
    height: int | None = None
    parser: str
    part_source: str = ""  # the parser's source (pose, silhouette...); "saved": taken from --parts-from
    presence: float | None = None  # the parser's person-presence score, when it gives one
    seed: int
    pool_levels: int
    pool_kernel: int
    threshold: float
    fill: str
    shape: str = "part"  # part, rectangle, or a pasted occluder: person, scene, object
    donor: str = ""  # pasted occluders: the donor image's relpath (person, scene) or the object file
    part_covered: float | None = None  # pasted occluders: share of the drawn part(s) the occluder covers
    part_quality: float | None = None  # how far the part map can be trusted, in [0, 1] (parser/quality.py)

    def to_csv(self) -> dict:
        """The row as the manifest's text: None as empty, floats with 6 decimals."""
        out = {}
        for name in _FIELD_NAMES:
            v = getattr(self, name)
            out[name] = "" if v is None else (f"{v:.6f}" if isinstance(v, float) else str(v))
        return out

    @classmethod
    def from_csv(cls, row: Mapping[str, str]) -> ManifestRow:
        """The typed row of a manifest row's text: the inverse of ``to_csv``
        (``ManifestRow.from_csv(r.to_csv()) == r``). Empty values of optional columns become None; a
        column older manifests lack (``part_source``, ``presence``...) takes its default. ValueError
        (naming the column) for a value that is not of its column's type or a status that is not one."""
        values: dict[str, Any] = {}
        for name, (kind, optional) in _COLUMN_TYPES.items():
            text = row.get(name)
            if text is None:
                continue
            if optional and text == "":
                values[name] = None
                continue
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"{name} {text!r} is not {_KIND_WORDS[kind]}") from None
        return cls(**values)


#: The manifest's columns, in order.
MANIFEST_FIELDS = tuple(f.name for f in fields(ManifestRow))
_FIELD_NAMES = MANIFEST_FIELDS
#: Each column's (type, whether empty means None), read from ManifestRow's annotations.
_KINDS = {"str": str, "int": int, "float": float, "Status": Status}
_COLUMN_TYPES = {f.name: (_KINDS[f.type.split(" | ")[0]], f.type.endswith("| None")) for f in fields(ManifestRow)}
_KIND_WORDS = {int: "a whole number", float: "a number", str: "text", Status: f"one of {', '.join(STATUSES)}"}


def typed_rows(rows: Iterable[Mapping[str, str]]) -> list[ManifestRow]:
    """Manifest rows as the writer produced them (the run state's text) as typed rows."""
    return [ManifestRow.from_csv(r) for r in rows]

# -- manifest ------------------------------------------------------------------------------
class UsableCounts:
    """``errors`` and ``unusable`` of a result holding manifest ``rows`` and ``other_files`` rows
    (a run's, a shard's or a merge's): what decides exit code 1."""

    rows: list[ManifestRow]
    other_files: list[dict]

    @property
    def errors(self) -> int:
        return sum(r.status == Status.ERROR for r in self.rows)

    @property
    def unusable(self) -> int:
        """Inputs that could not be used: error images and other files that could not be copied."""
        return self.errors + sum(r["action"] != "copied" for r in self.other_files)


def csv_bytes(fieldnames: tuple[str, ...], rows: list[dict]) -> bytes:
    """CSV text (``\n`` line ends) sorted by relpath (by the name's bytes). A row holding a carriage
    return is written fully quoted: the csv module quotes only the line terminator's characters,
    and a bare ``\r`` would otherwise end the row for every reader."""
    buf = io.StringIO()
    plain = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    quoted = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n", quoting=csv.QUOTE_ALL)
    plain.writeheader()
    for row in sorted(rows, key=lambda r: os.fsencode(r["relpath"])):
        (quoted if any("\r" in str(v) for v in row.values()) else plain).writerow(row)
    return buf.getvalue().encode(ENCODING, ERRORS)


def manifest_bytes(rows: list[dict]) -> bytes:
    """The manifest: one row per image, sorted by relpath (by the name's bytes), csv-quoted."""
    return csv_bytes(MANIFEST_FIELDS, rows)


def write_manifest(tree: OutputTree, rows: list[dict]) -> str:
    """Write the manifest atomically; its SHA-1 (recorded in summary.json to detect damage)."""
    return tree.write_bytes(tree.manifest_file, manifest_bytes(rows))


def _check_row(row: ManifestRow, text: dict, line: int, where: Path) -> None:
    """What the types alone do not say: numbers are finite, fractions lie in [0, 1]."""
    for key, (kind, _) in _COLUMN_TYPES.items():
        value = getattr(row, key)
        if kind is float and value is not None and not math.isfinite(value):
            raise ManifestError(f"{where}, row {line}: {key} {text[key]!r} is not a finite number.")
    for key in ("image_fraction", "person_fraction", "part_quality"):
        value = getattr(row, key)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ManifestError(f"{where}, row {line}: {key} {text[key]} is not a fraction in [0, 1].")


def read_manifest(path: Path) -> list[ManifestRow]:
    """The typed rows of a manifest.csv (a path to the file or to an output root), checked.

    ManifestError (one sentence) when the file is not UTF-8 text of the csv module, lacks columns,
    has a row with too few or too many values, a status or number that is not one, or, beside the
    summary.json of its run, does not hash to what the run wrote (cut short or edited).
    """
    path = Path(path)
    if path.is_dir():
        path = OutputTree(path).manifest_file
    if not path.exists():
        raise FileNotFoundError(f"no manifest at {path}: is this an occreid output, and has its run finished?")
    data = path.read_bytes()
    summary = path.with_name(SUMMARY_FILE)
    if summary.is_file():
        try:
            recorded = json.loads(summary.read_text(encoding="utf-8")).get("manifest_sha1")
        except (OSError, ValueError, AttributeError):
            raise ManifestError(f"{summary} is damaged (not JSON); rerun the generate command to rewrite it.") from None
        if recorded and hashlib.sha1(data).hexdigest() != recorded:
            raise ManifestError(f"{path} does not match the run that wrote it (cut short or edited); rerun the "
                                "same generate command to export it again from the run state.")
    if b"\0" in data:
        raise ManifestError(f"{path} holds NUL bytes: it is damaged, not a manifest.")
    text = data.decode(ENCODING, ERRORS)
    if text and not text.endswith("\n"):
        raise ManifestError(f"{path} ends in the middle of a row: it was cut short.")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = reader.fieldnames or []
        optional = ("part_source", "presence", "part_quality")  # columns older manifests lack
        missing = [k for k in MANIFEST_FIELDS if k not in header and k not in optional]
        if missing:
            raise ManifestError(f"{path} lacks the column(s) {', '.join(missing)}: it is not an occreid manifest.")
        rows = []
        for line, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise ManifestError(f"{path}, row {line}: {len(header)} values expected, the row has another count.")
            try:
                typed = ManifestRow.from_csv(row)  # a status or number that is not one: ValueError
            except ValueError as exc:
                raise ManifestError(f"{path}, row {line}: {exc}.") from None
            _check_row(typed, row, line, path)
            rows.append(typed)
    except csv.Error as exc:
        raise ManifestError(f"{path} is not a valid CSV file ({exc}).") from None
    return rows


#: The columns of other_files.csv.
OTHER_FIELDS = ("relpath", "action", "reason")


def write_other_files(tree: OutputTree, rows: list[dict]) -> str:
    """Every input file that is not an image of the layout: relpath, action (copied / skipped), reason.
    Returns the file's SHA-1."""
    return tree.write_bytes(tree.other_files_file, csv_bytes(OTHER_FIELDS, rows))


def read_csv_rows(data: bytes, fieldnames: tuple[str, ...], where: Path) -> list[dict]:
    """The rows of CSV bytes occreid wrote (``csv_bytes``), as the dicts that were written: the
    inverse of ``csv_bytes`` (names that are not UTF-8 come back as the same surrogate escapes).
    ManifestError when the header is not ``fieldnames`` or a row has another number of values."""
    reader = csv.reader(io.StringIO(data.decode(ENCODING, ERRORS), newline=""), strict=True)
    try:
        header = next(reader, None)
        if tuple(header or ()) != tuple(fieldnames):
            raise ManifestError(f"{where} does not have occreid's columns: it is damaged or not occreid's.")
        rows: list[dict] = []
        for values in reader:
            if len(values) != len(fieldnames):
                raise ManifestError(f"{where}, row {len(rows) + 2}: {len(fieldnames)} values expected, "
                                    f"the row has {len(values)}.")
            rows.append(dict(zip(fieldnames, values)))
    except csv.Error as exc:
        raise ManifestError(f"{where} is not a valid CSV file ({exc}).") from None
    return rows


def write_json(tree: OutputTree, path: Path, obj) -> None:
    tree.write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))
