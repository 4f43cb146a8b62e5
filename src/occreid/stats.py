"""Statistics of a generated dataset, read from its manifest (``occreid stats OUT``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .parts import PARTS
from .writer import STATUSES, read_manifest

PERCENTILES = (10, 50, 90)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {f"p{p}": None for p in PERCENTILES}
    arr = np.asarray(values, float) * 100.0
    return {f"p{p}": round(float(np.percentile(arr, p)), 2) for p in PERCENTILES}


def _part_order(name: str) -> tuple[int, str]:
    return (PARTS.index(name) if name in PARTS else len(PARTS), name)


def manifest_stats(rows: list[dict]) -> dict:
    """Per split and over all images: counts of each status, how often each part was covered (an
    occluder over ``head+torso`` counts for both) and how many parts occluders covered, percentiles (in %) of
    the occluded image fraction and of the covered person fraction over occluded images, and the
    occluded images whose occluder misses the person (covers none of the person's pixels)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["split"]].append(r)
    out = {}
    for split, rs in sorted(groups.items()) + [("all", rows)]:
        occluded = [r for r in rs if r["status"] == "occluded"]
        status = Counter(r["status"] for r in rs)
        drawn = [r["part"].split("+") for r in occluded if r["part"]]
        parts = Counter(p for names in drawn for p in names)
        out[split] = {
            "images": len(rs),
            **{s: status.get(s, 0) for s in STATUSES},
            "parts": {p: parts[p] for p in sorted(parts, key=_part_order)},
            "parts_per_occluder": {str(k): v for k, v in sorted(Counter(len(n) for n in drawn).items())},
            "image_fraction": _percentiles([float(r["image_fraction"]) for r in occluded]),
            "person_fraction": _percentiles([float(r["person_fraction"]) for r in occluded]),
            "misses_person": sum(float(r["person_fraction"] or 0) == 0 for r in occluded),
        }
    return out


def stats_for(output_root: Path) -> dict:
    """``manifest_stats`` of an output root (or a manifest.csv path)."""
    return manifest_stats(read_manifest(Path(output_root)))
