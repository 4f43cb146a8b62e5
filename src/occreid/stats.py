"""Statistics of a generated dataset, read from its manifest (``occreid stats OUT``)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .output import SUMMARY_FILE
from .parts import PARTS
from .status import STATUSES, Status
from .writer import ManifestError, ManifestRow, OutputTree, read_manifest

PERCENTILES = (10, 50, 90)


def _percentiles(values: list[float], scale: float = 100.0, digits: int = 2) -> dict:
    if not values:
        return {f"p{p}": None for p in PERCENTILES}
    arr = np.asarray(values, float) * scale
    return {f"p{p}": round(float(np.percentile(arr, p)), digits) for p in PERCENTILES}


def _by_split(rows: list[ManifestRow], sort: bool = False) -> list[tuple[str, list[ManifestRow]]]:
    """Rows grouped by split (in first-seen order, or sorted), then ``("all", rows)``."""
    groups: dict[str, list[ManifestRow]] = defaultdict(list)
    for r in rows:
        groups[r.split].append(r)
    items = sorted(groups.items()) if sort else list(groups.items())
    return items + [("all", list(rows))]


def _status_counts(rows: list[ManifestRow]) -> dict[str, int]:
    status: Counter[str] = Counter(r.status for r in rows)
    return {s: status.get(s, 0) for s in STATUSES}


def summarize(rows: list[ManifestRow]) -> dict:
    """Per split (in manifest order) and in total: images, ids, cameras, clothes, and the count of
    each status (the generator's summary table)."""
    return {
        split: {
            "images": len(rs),
            "ids": len({r.pid for r in rs if r.pid is not None}),
            "cameras": len({r.camera for r in rs if r.camera is not None}),
            "clothes": len({r.clothes for r in rs if r.clothes is not None}),
            **_status_counts(rs),
        }
        for split, rs in _by_split(rows)
    }


def _part_order(name: str) -> tuple[int, str]:
    return (PARTS.index(name) if name in PARTS else len(PARTS), name)


def manifest_stats(rows: list[ManifestRow]) -> dict:
    """Per split and over all images: counts of each status, how often each part was covered (an
    occluder over ``head+torso`` counts for both) and how many parts occluders covered, percentiles (in %) of
    the occluded image fraction and of the covered person fraction over occluded images, and the
    occluded images whose occluder misses the person (covers none of the person's pixels); what made
    the part maps (``part_sources``), percentiles of the part maps' quality score (``part_quality``,
    in [0, 1]) and, for pasted occluders, the covered share of the drawn part."""
    out = {}
    for split, rs in _by_split(rows, sort=True):
        occluded = [r for r in rs if r.status == Status.OCCLUDED]
        drawn = [r.part.split("+") for r in occluded if r.part]
        parts = Counter(p for names in drawn for p in names)
        out[split] = {
            "images": len(rs),
            **_status_counts(rs),
            "parts": {p: parts[p] for p in sorted(parts, key=_part_order)},
            "parts_per_occluder": {str(k): v for k, v in sorted(Counter(len(n) for n in drawn).items())},
            "image_fraction": _percentiles([r.image_fraction for r in occluded if r.image_fraction is not None]),
            "person_fraction": _percentiles([r.person_fraction for r in occluded if r.person_fraction is not None]),
            "misses_person": sum((r.person_fraction or 0) == 0 for r in occluded),
            # what made the part maps (pose, silhouette, schp, saved...), over images that were parsed
            "part_sources": dict(sorted(Counter(r.part_source for r in rs if r.part_source).items())),
            # pasted occluders: share of the drawn part(s) covered, in %
            "part_covered": _percentiles([r.part_covered for r in occluded if r.part_covered is not None]),
            # the part maps' quality score (0..1, not %), over images with a scored map
            "part_quality": _percentiles([r.part_quality for r in rs if r.part_quality is not None], scale=1.0,
                                         digits=3),
        }
    return out


def stats_for(output_root: Path) -> dict:
    """``manifest_stats`` of an output root (or a manifest.csv path); ManifestError (one sentence)
    when the manifest is damaged, cut short or not occreid's."""
    return manifest_stats(read_run_manifest(output_root))


def read_run_manifest(output_root: Path) -> list[ManifestRow]:
    """``writer.read_manifest`` of an output root (or a manifest.csv path), after checking that the
    manifest and its summary are regular files: a FIFO or device there is refused (ManifestError),
    never opened, so ``stats`` and ``report`` cannot block on it."""
    path = Path(output_root)
    manifest = OutputTree(path).manifest_file if path.is_dir() else path
    for file in (manifest, manifest.with_name(SUMMARY_FILE)):
        try:
            mode = os.stat(file).st_mode
        except OSError:
            continue  # missing: read_manifest says so, or does without the summary
        if not stat.S_ISREG(mode):
            raise ManifestError(f"{file} is not a regular file (a FIFO, device or folder); rerun the generate "
                                "command to export it again.")
    return read_manifest(path)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file the user named (``stats --json``) whole or not at all: its folders made, a
    temporary file beside it renamed into place; OSError (nothing left behind) when it cannot be."""
    from .writer import tmp_name

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{tmp_name()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
