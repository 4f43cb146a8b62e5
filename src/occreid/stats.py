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
    """Per split and over all images: counts of each status, parts drawn, percentiles (in %) of
    the occluded image fraction and of the covered person fraction over occluded images, and the
    occluded images whose occluder misses the person (covers none of the person's pixels)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["split"]].append(r)
    out = {}
    for split, rs in sorted(groups.items()) + [("all", rows)]:
        occluded = [r for r in rs if r["status"] == "occluded"]
        status = Counter(r["status"] for r in rs)
        parts = Counter(r["part"] for r in occluded if r["part"])
        out[split] = {
            "images": len(rs),
            **{s: status.get(s, 0) for s in STATUSES},
            "parts": {p: parts[p] for p in sorted(parts, key=_part_order)},
            "image_fraction": _percentiles([float(r["image_fraction"]) for r in occluded]),
            "person_fraction": _percentiles([float(r["person_fraction"]) for r in occluded]),
            "misses_person": sum(float(r["person_fraction"] or 0) == 0 for r in occluded),
        }
    return out


def stats_for(output_root: Path) -> dict:
    """``manifest_stats`` of an output root (or a manifest.csv path)."""
    return manifest_stats(read_manifest(Path(output_root)))
