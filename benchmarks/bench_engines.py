"""Benchmark the engines and the shard merge.

    .venv/bin/python benchmarks/bench_engines.py                       # 1,000 mars-mini crops, 2 workers
    .venv/bin/python benchmarks/bench_engines.py --parser parsers:BoxParser --images 2000
    .venv/bin/python benchmarks/bench_engines.py --skip-engines --rows 100000 --shards 16

1. ``--engine local`` and ``--engine ray`` (a local Ray cluster on this machine, started by the run
   itself) on the same crops with the same workers, each timed end to end as a user sees it (Ray's
   start and stop included), and the overhead ratio (ray time / local time). Both outputs are
   checked to be byte-identical.
2. ``occreid merge`` of N finished shards holding a manifest of ``--rows`` rows in all (synthetic
   rows, the shape of real ones): the time to check, read and write the merged files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from _shared import DATA, ROOT, copy_crops

sys.path.insert(0, str(ROOT / "tests"))  # the box parser

from occreid import __version__
from occreid import shards as sharding
from occreid.datasets import read_dataset
from occreid.runner import GenerateConfig, generate
from occreid.writer import ManifestRow


def digest(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith("_occreid/shards") and "state.sqlite" not in rel \
                and not rel.endswith("run.json"):
            h.update(rel.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def bench_engines(args) -> None:
    records = read_dataset(args.dataset).records[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        copy_crops(args.dataset, [r.relpath for r in records], src)
        print(f"engines: {len(records)} crops of {args.dataset.name}, parser {args.parser}, {args.workers} workers")
        times = {}
        for engine, label in (("local", "local"), ("ray", "ray"), ("ray", "ray-up")):
            out = Path(tmp) / label
            cfg = GenerateConfig(input=src, output=out, parser=args.parser, workers=args.workers, engine=engine)
            if label == "ray-up":  # a cluster already running (joined): Ray's start and stop not counted
                import logging

                import ray

                ray.init(address="local", include_dashboard=False, num_cpus=args.workers, log_to_driver=False,
                         logging_level=logging.ERROR)
            t0 = time.perf_counter()
            result = generate(cfg)
            times[label] = time.perf_counter() - t0
            if label == "ray-up":
                ray.shutdown()
            assert result.errors == 0, result.summary
            what = {"local": "--engine local", "ray": "--engine ray (starts and stops its cluster)",
                    "ray-up": "--engine ray (cluster already up)"}[label]
            print(f"  {what:<46} {times[label]:7.2f} s  {len(records) / times[label]:7.1f} images/s  "
                  f"ratio to local {times[label] / times['local']:.2f}x")
        same = digest(Path(tmp) / "local") == digest(Path(tmp) / "ray") == digest(Path(tmp) / "ray-up")
        print(f"  outputs byte-identical: {same}")


def bench_merge(args) -> None:
    n, rows_total = args.shards, args.rows
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        fingerprint = {"seed": 0, "synthetic": True}
        template = ManifestRow(relpath="", split="bbox_train", pid=1, camera=0, clothes=None, status="occluded",
                               reason="", part="torso", preset="default", part_choice="present", image_fraction=0.15,
                               person_fraction=0.3, width=128, height=256, parser="mediapipe", part_source="pose",
                               presence=0.9, seed=0, pool_levels=4, pool_kernel=2, threshold=0.0, fill="black")
        per_shard: list[list[dict]] = [[] for _ in range(n)]
        for i in range(rows_total):
            pid = i // 200
            rel = f"bbox_train/{pid:04d}/{pid:04d}C{i % 6 + 1}T{i % 97:04d}F{i % 1000:03d}.jpg"
            row = template.to_csv() | {"relpath": rel, "pid": str(pid), "camera": str(i % 6)}
            per_shard[sharding.shard_of(rel, n)].append(row)
        for i in range(n):
            shard = sharding.Shard(i, n)
            tree = sharding.shard_tree(out, shard)
            sharding.unmark(tree, shard)
            sharding.mark(tree, shard, fingerprint)
            sharding.finish(tree, shard, per_shard[i], [], {
                "fingerprint": fingerprint, "listing": "synthetic", "layout": "mars", "warnings": [],
                "input": "/data/MARS", "occreid": __version__})
        t0 = time.perf_counter()
        result = sharding.merge(out)
        dt = time.perf_counter() - t0
        size = (out / "_occreid/manifest.csv").stat().st_size
        assert len(result.rows) == rows_total
        print(f"merge: {rows_total:,} rows from {n} shards in {dt:.2f} s ({rows_total / dt:,.0f} rows/s; "
              f"manifest {size / 2**20:.1f} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DATA / "mars-mini")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--parser", default="mediapipe")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--skip-engines", action="store_true")
    ap.add_argument("--skip-merge", action="store_true")
    args = ap.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT / "tests") + os.pathsep + os.environ.get("PYTHONPATH", "")
    if not args.skip_merge:
        bench_merge(args)
    if not args.skip_engines:
        bench_engines(args)


if __name__ == "__main__":
    main()
