"""Benchmark regenerating from saved part maps (``--parts-from``) and verifying a finished run.

    .venv/bin/python benchmarks/bench_reuse.py                 # 1,000 mars-mini crops, 2 workers
    .venv/bin/python benchmarks/bench_reuse.py --images 2000 --workers 1 2
    .venv/bin/python benchmarks/bench_reuse.py --workers 1 2 --repeat 5   # fastest and median of 5 (noisy machines)
    .venv/bin/python benchmarks/bench_reuse.py --presets default paper hard rectangle --repeat 5

Part maps are saved once (``--parser``: the embedded MediaPipe parser by default, or the box test
parser ``parsers:BoxParser`` from tests/parsers.py for a quick look); then a run with another seed
reuses them (``--parts-from``), timed end to end with process start-up, and a rerun of that
finished run (every input's fingerprint and every output's hash verified, nothing redone) is
timed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _shared import DATA, ROOT, copy_crops

sys.path.insert(0, str(ROOT / "tests"))  # the box parser, importable by worker processes too

from occreid.datasets import read_dataset
from occreid.occlusion import PRESETS, preset_params
from occreid.runner import GenerateConfig, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DATA / "mars-mini")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--parser", default="mediapipe")
    ap.add_argument("--presets", nargs="+", default=["default"], choices=list(PRESETS),
                    help="time the reuse with each of these presets (person and scene paste donors: slower)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each reuse run this many times (a fresh output each time) and report the fastest")
    args = ap.parse_args()
    import os

    os.environ["PYTHONPATH"] = str(ROOT / "tests") + os.pathsep + os.environ.get("PYTHONPATH", "")
    records = read_dataset(args.dataset).records[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        copy_crops(args.dataset, [r.relpath for r in records], src)
        parts = Path(tmp) / "parts"
        generate(GenerateConfig(input=src, output=parts, parser=args.parser, workers=2, save_parts=True))
        print(f"dataset: {len(records)} crops of {args.dataset.name}")
        print(f"{'preset':>10} {'workers':>8} {'reuse s':>8} {'images/s':>9} {'median/s':>9} {'verify s':>9} "
              f"{'images/s':>9}")
        for preset, w in [(p, w) for p in args.presets for w in args.workers]:
            reuse = []
            for r in range(max(1, args.repeat)):
                out = Path(tmp) / f"out-{preset}-{w}-{r}"
                cfg = GenerateConfig(input=src, output=out, parser=args.parser, workers=w, seed=1,
                                     parts_from=parts, preset=preset, occlusion=preset_params(preset))
                t0 = time.perf_counter()
                result = generate(cfg)
                reuse.append(time.perf_counter() - t0)
                assert result.errors == 0, result.summary
            t1 = time.perf_counter()
            again = generate(cfg)
            t2 = time.perf_counter()
            assert again.skipped == len(records), again.summary
            n, best, median = len(records), min(reuse), statistics.median(reuse)
            print(f"{preset:>10} {w:>8} {best:>8.2f} {n / best:>9.0f} {n / median:>9.0f} {t2 - t1:>9.2f} "
                  f"{n / (t2 - t1):>9.0f}")
            for r in range(max(1, args.repeat)):  # keep the disk free for the next ones
                shutil.rmtree(Path(tmp) / f"out-{preset}-{w}-{r}", ignore_errors=True)


if __name__ == "__main__":
    main()
