"""Benchmark the generator end to end on real crops: throughput, no-person share, occluder sizes.

    .venv/bin/python benchmarks/bench_generate.py                      # mars-mini, 1 and 2 workers
    .venv/bin/python benchmarks/bench_generate.py --dataset ../shared/data/prcc-mini --workers 2

Prints images/s per worker count (wall clock of the whole run, process start-up included), the
share of each status, and the 10th / 50th / 90th percentile of the occluded image fraction and
of the covered person fraction, beside the published samples' figures (PAPER-NOTES.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _shared import DATA

from occreid.occlusion import OcclusionParams
from occreid.runner import GenerateConfig, generate

PUBLISHED = {"Occ-PRCC samples": (1.9, 13.5, 31.7), "Occ-LTCC samples": (8.6, 22.1, 39.4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DATA / "mars-mini")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--parser", default="mediapipe")
    ap.add_argument("--part-choice", default="present", choices=["present", "paper"])
    args = ap.parse_args()

    rows = None
    print(f"dataset: {args.dataset}")
    print(f"{'workers':>8} {'images':>7} {'seconds':>8} {'images/s':>9}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = GenerateConfig(input=args.dataset, output=Path(tmp) / "out", workers=workers, parser=args.parser,
                                 occlusion=OcclusionParams(part_choice=args.part_choice))
            t0 = time.perf_counter()
            result = generate(cfg)
            dt = time.perf_counter() - t0
            rows = result.rows
            print(f"{workers:>8} {len(rows):>7} {dt:>8.1f} {len(rows) / dt:>9.1f}")

    n = len(rows)
    print("\nstatus      count   share")
    for status in ("occluded", "part_absent", "no_person", "error"):
        k = sum(r.status == status for r in rows)
        print(f"{status:<11} {k:>5} {100 * k / n:>6.1f}%")
    occ = [r for r in rows if r.status == "occluded"]
    img = np.array([r.image_fraction for r in occ]) * 100
    per = np.array([r.person_fraction for r in occ]) * 100
    # over all frames, unoccluded ones counting 0, to compare with the published samples
    allimg = np.array([r.image_fraction or 0.0 for r in rows]) * 100
    print("\n% of image occluded           p10    p50    p90")
    for name, values in (("occreid, occluded images", img), ("occreid, all images", allimg)):
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        print(f"{name:<28} {p10:>5.1f}  {p50:>5.1f}  {p90:>5.1f}")
    for name, (p10, p50, p90) in PUBLISHED.items():
        print(f"{name:<28} {p10:>5.1f}  {p50:>5.1f}  {p90:>5.1f}")
    p10, p50, p90 = np.percentile(per, [10, 50, 90])
    print(f"\n% of person covered (occluded images): p10 {p10:.1f}  p50 {p50:.1f}  p90 {p90:.1f}")
    parts = {}
    for r in occ:
        parts[r.part] = parts.get(r.part, 0) + 1
    print("parts drawn: " + ", ".join(f"{k} {v}" for k, v in sorted(parts.items())))


if __name__ == "__main__":
    main()
