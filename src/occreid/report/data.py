"""One generated run as the report sees it: its manifest rows, statistics and parameters.

Everything is read from what the writer produced: the rows through ``writer.read_manifest`` (which
refuses a damaged manifest), the counts through the statistics module (``stats.summarize`` and
``stats.manifest_stats``), the parameters from ``_occreid/run.json``. No parser runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import OccreidError
from ..occlusion import DONOR_SHAPES
from ..parts import PALETTE, PARTS
from ..saved import RunFileError, read_run_file
from ..stats import manifest_stats, read_run_manifest, summarize
from ..status import Status
from ..writer import ManifestError, ManifestRow, OutputTree

#: Occluder names of the rectangle shape, in the order the tables list them.
RECT_SIDES = ("rect_top", "rect_bottom", "rect_left", "rect_right")
#: Colours of run A and run B (tags, plot series).
RUN_COLOURS = ("#2f6fd0", "#e0801a")
#: Shapes whose occluder is pasted from a donor: another image of the input, or an object file.
OBJECT_SHAPE = "object"


class ReportError(OccreidError, RuntimeError):
    """The report cannot be written as asked; the message says why."""


def sample_rows(rows: list[ManifestRow], n: int, seed: int) -> list[ManifestRow]:
    """The first ``n`` rows in the order of SHA-1(seed, relpath): reproducible, and independent of
    the rows' order, so a larger dataset only adds candidates."""

    def rank(row: ManifestRow) -> bytes:
        return hashlib.sha1(f"{seed}\0{row.relpath}".encode("utf-8", "surrogateescape")).digest()

    return sorted(rows, key=rank)[: max(0, n)]


def pretty(part: str) -> str:
    """``upper_arms`` -> ``upper arms``; ``rect_top`` -> ``rectangle top``."""
    return part.replace("rect_", "rectangle ").replace("_", " ")


def components(part: str) -> list[str]:
    """What an occluder covers, one entry per part: ``head+torso`` -> [head, torso]."""
    return [p for p in part.split("+") if p]


def component_order(name: str) -> tuple:
    """Sort key of occluder components: body parts in label order, then rectangle sides, then others."""
    if name in PARTS:
        return (0, PARTS.index(name), name)
    if name in RECT_SIDES:
        return (1, RECT_SIDES.index(name), name)
    return (2, 0, name)


def colour(name: str) -> str:
    """The part's colour in the part-map palette (grey for anything that is not a body part)."""
    rgb = PALETTE[PARTS.index(name)] if name in PARTS and name != PARTS[0] else (120, 120, 120)
    return "#" + "".join(f"{c:02x}" for c in rgb)


def percent(value: str | float | None) -> str:
    """A manifest fraction as a percentage with one decimal (``–`` when empty)."""
    return "–" if value in (None, "") else f"{float(value) * 100:.1f}%"


def shown(value: object) -> str:
    """A parameter value as the page shows it."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " – ".join(shown(x) for x in value) if value else "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _number(value) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def run_parameters(fingerprint: dict, first: ManifestRow, tree: OutputTree) -> dict[str, str]:
    """The run's parameters as shown: from run.json's fingerprint, else from the first manifest row."""
    occ = fingerprint.get("occlusion", {})

    def get(key: str) -> object:
        if key in occ:
            return occ[key]
        if key in fingerprint:
            return fingerprint[key]
        return getattr(first, key, None)

    out = {
        "layout": fingerprint.get("layout"),
        "parser": fingerprint.get("parser") or first.parser,
        "seed": get("seed"),
        "preset": get("preset"),
        "shape": occ.get("shape", "part"),
        "part choice": get("part_choice"),
        "parts per occluder": occ.get("num_parts", 1),
        "person covered (target)": occ.get("target"),
        "pooling (levels x kernel)": f"{shown(get('pool_levels'))} x {shown(get('pool_kernel'))}",
        "threshold": _number(get("threshold")),
        "fill": get("fill"),
        "splits occluded": fingerprint.get("splits"),
        "fraction occluded": fingerprint.get("fraction"),
        "jpeg quality": fingerprint.get("jpeg_quality"),
        "parts saved": tree.parts_dir.is_dir(),
        "masks saved": tree.masks_dir.is_dir(),
    }
    if occ.get("shape") == "rectangle":
        out["rectangle sides, depth"] = f"{shown(occ.get('rect_sides'))}; {shown(occ.get('rect_fraction'))}"
    if occ.get("shape") in DONOR_SHAPES:
        out["donors drawn from"] = "the same split" if occ.get("donor_split") == "same" else "any split"
    if occ.get("shape") == OBJECT_SHAPE:
        out["objects folder"] = occ.get("objects_dir")
    if occ.get("fill") == "texture":
        out["texture folder"] = occ.get("texture_dir")
    return {k: shown(v) for k, v in out.items()}


@dataclass
class Run:
    """One output root: its rows (``by_rel`` indexes them), per-split counts (``summary``, in
    manifest order) and statistics (``stats``), and the occluded rows covering each part."""

    label: str
    root: Path
    rows: list[ManifestRow]
    input: Path | None
    input_ok: bool
    summary: dict
    stats: dict
    splits: list[str]
    params: dict
    has_parts: bool
    has_masks: bool
    by_rel: dict
    colour: str
    #: split ("all" too) -> part -> occluded rows whose occluder covers it
    covering: dict

    def covered(self, split: str = "all") -> dict[str, int]:
        """Occluded images covering each part (an occluder over two parts counts for both)."""
        return self.stats[split]["parts"]

    @property
    def output(self) -> Path:
        """The output root as the page shows it: absolute, as run.json records the input."""
        return self.root.resolve()

    @property
    def name(self) -> str:
        """The run as plot legends name it: ``A: occ_prcc``."""
        return f"{self.label}: {self.root.name}"


def load_run(root: Path, label: str, run_colour: str) -> Run:
    """Read one output root; ReportError (one sentence) when its manifest is missing, damaged or empty."""
    root = Path(root)
    tree = OutputTree(root)
    try:
        rows = read_run_manifest(root)  # regular files only: a FIFO never blocks the report
    except (FileNotFoundError, ManifestError) as exc:
        raise ReportError(str(exc)) from None
    if not rows:
        raise ReportError(f"the manifest of {root} has no rows: nothing to report")
    try:
        info = read_run_file(root)
    except RunFileError:
        info = {}
    inp = Path(info["input"]) if info.get("input") else None
    summary = summarize(rows)
    covering: dict[str, dict[str, list[ManifestRow]]] = {}
    for r in rows:
        if r.status == Status.OCCLUDED:
            for c in components(r.part):
                covering.setdefault(r.split, {}).setdefault(c, []).append(r)
                covering.setdefault("all", {}).setdefault(c, []).append(r)
    return Run(
        label=label, root=root, rows=rows, input=inp, input_ok=bool(inp and inp.is_dir()),
        summary=summary, stats=manifest_stats(rows), splits=[s for s in summary if s != "all"],
        params=run_parameters(info.get("fingerprint", {}), rows[0], tree),
        has_parts=tree.parts_dir.is_dir(), has_masks=tree.masks_dir.is_dir(),
        by_rel={r.relpath: r for r in rows}, colour=run_colour, covering=covering,
    )
