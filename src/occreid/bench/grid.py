"""The bench's grid: body part x severity x seed, and which side of the protocol is occluded.

A *cell* is one occluded twin of the dataset's test images, made from saved part maps:

- part ``any``: the occluder starts on a part drawn among those present and adds parts until the
  share of the person hidden lies in the severity band; this is exactly ``occreid generate
  --target LO HI --seed SEED`` (the default preset with a target), so a cell can be re-made by hand;
- a body part (``head`` ... ``lower_legs``): the same procedure with that part always drawn first
  (``PinnedOccluder``); an image that does not show the part keeps its pixels (status
  ``part_absent``, counted in the cell's ``images_occluded``). A part larger than the band on its
  own is kept alone and its measured share says so.

Severity is the share of the person's pixels under the occluder, the quantity ``--target``
controls (``person_fraction`` in the manifest). Which images are occluded follows the field's two
protocols: ``query`` (occluded queries against a whole-body gallery, as Occluded-Duke,
Occluded-REID and Partial-REID) or ``both`` (queries and gallery occluded, as the released
Occluded-PRCC / Occluded-LTCC twins). The default is ``query``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..errors import OccreidError
from ..occlusion import Occluder, OcclusionParams
from ..occlusion import functional as F
from ..occlusion.transforms import PART_ABSENT, Occlusion, no_person
from ..parts import BODY_PARTS, PARTS

#: The grid's rows: any part (the paper's draw), then the six Pascal-Person-Part parts.
ANY = "any"
GRID_PARTS: tuple[str, ...] = (ANY,) + tuple(PARTS[p] for p in BODY_PARTS)
#: The reference row: the dataset as it is.
CLEAN = "clean"
#: Default severities: share of the person hidden, in percent.
DEFAULT_SEVERITIES = "10-20,20-40,40-60,60-80"
PROTOCOLS = ("query", "both")
DEFAULT_PROTOCOL = "query"


class BenchError(OccreidError, ValueError):
    """The bench cannot run as asked (options, inputs, output); one sentence, exit code 2."""


@dataclass(frozen=True, order=True)
class Severity:
    """A band of the share of the person hidden, as fractions (``lo`` <= share <= ``hi``)."""

    lo: float
    hi: float

    @property
    def label(self) -> str:
        """``10-20``: the band in percent, as the option spells it."""
        return f"{_pct(self.lo)}-{_pct(self.hi)}"


def _pct(x: float) -> str:
    v = round(100 * x, 6)
    return str(int(v)) if v == int(v) else f"{v:g}"


def parse_severities(text: str) -> tuple[Severity, ...]:
    """``"10-20,20-40"`` -> bands in fractions; BenchError for anything else."""
    out = []
    for item in (t.strip() for t in str(text).split(",")):
        if not item:
            continue
        try:
            lo, hi = (float(v) for v in item.split("-"))
        except ValueError:
            raise BenchError(f"--severities: {item!r} is not a band like 10-20 (percent of the person "
                             "hidden).") from None
        if not 0 <= lo < hi <= 100:
            raise BenchError(f"--severities: {item!r} must satisfy 0 <= low < high <= 100.")
        out.append(Severity(lo / 100, hi / 100))
    if not out:
        raise BenchError("--severities needs at least one band, such as 10-20.")
    if len(set(out)) != len(out):
        raise BenchError(f"--severities {text!r} names a band twice.")
    return tuple(sorted(out))


def parse_parts(text: str | None) -> tuple[str, ...]:
    """``"any,head"`` -> the grid rows in the grid's order; BenchError naming an unknown part."""
    if text is None or text.strip() in ("", "all"):
        return GRID_PARTS
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in GRID_PARTS]
    if unknown:
        raise BenchError(f"--parts: unknown part(s) {', '.join(unknown)}; choose among {', '.join(GRID_PARTS)}.")
    return tuple(p for p in GRID_PARTS if p in names)


@dataclass(frozen=True)
class Cell:
    """One grid cell: a part row (or ``clean``), a severity (None for clean) and a seed."""

    part: str
    severity: Severity | None
    seed: int

    @property
    def name(self) -> str:
        if self.part == CLEAN or self.severity is None:
            return CLEAN
        return f"{self.part}/{self.severity.label}/seed{self.seed}"

    def key(self, context: dict) -> str:
        """The cell's key in the store: what decides its figures (the context: dataset, part maps,
        model, protocol) and the cell itself."""
        body = {"context": context, "part": self.part, "seed": self.seed,
                "severity": None if self.severity is None else [self.severity.lo, self.severity.hi]}
        return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()


def grid_cells(parts: tuple[str, ...], severities: tuple[Severity, ...], seeds: tuple[int, ...]) -> list[Cell]:
    """The clean reference first, then every (part, severity, seed) in grid order."""
    return [Cell(CLEAN, None, 0)] + [Cell(p, s, k) for p in parts for s in severities for k in seeds]


def cell_params(severity: Severity) -> OcclusionParams:
    """The occlusion of a cell: the default preset with ``target`` = the severity band (what
    ``occreid generate --target LO HI`` builds)."""
    from ..occlusion import preset_params

    return preset_params("default", target=(severity.lo, severity.hi))


class PinnedOccluder(Occluder):
    """The default occluder with one body part always drawn first.

    With a target band: up to ``max_draws`` orders ``[part, shuffled other present parts]`` are
    tried, parts are added in that order until the covered share reaches the band's low end, a
    draw inside the band is kept, otherwise the closest one (as ``Occluder`` does for ``any``
    part, whose first part is drawn too). An image without the part keeps its pixels.
    """

    def __init__(self, params: OcclusionParams, part: str):
        super().__init__(params)
        if part not in PARTS[1:]:
            raise BenchError(f"unknown body part {part!r}")
        self.part = PARTS.index(part)

    def plan(self, part_map: np.ndarray, rng: np.random.Generator, target=None, order=None) -> Occlusion:
        p = self.params
        present = F.present_parts(part_map, p.min_part_fraction)
        if not present:
            return no_person(part_map.shape)
        if self.part not in present:
            return Occlusion(PART_ABSENT, np.zeros(part_map.shape, bool), (self.part,),
                             f"{PARTS[self.part]} absent (pinned part)")
        if p.target is None:
            return self._finish(part_map, (self.part,), rng)
        others = np.array([x for x in present if x != self.part], dtype=np.int64)

        def orders():
            for _ in range(p.max_draws):
                yield [self.part] + [int(x) for x in rng.permutation(others)]
                if not len(others):
                    return  # the pinned part alone: every order is the same

        return self.in_band(part_map, orders(), rng, fewest=1)


def occluder_for(part: str, severity: Severity) -> Occluder:
    """The occluder of a cell's row: generate's own for ``any``, a ``PinnedOccluder`` otherwise."""
    params = cell_params(severity)
    return Occluder(params) if part == ANY else PinnedOccluder(params, part)
