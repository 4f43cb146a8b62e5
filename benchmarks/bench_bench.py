"""What a full ``occreid bench`` grid costs on ltcc-mini: the built-in baseline and a small
TorchScript CNN (built here with torch, never saved in the repository), from part maps made once
by the embedded parser.

    .venv/bin/python benchmarks/bench_bench.py [--seeds 3] [--occlude query|both] [--workers 2]

Prints the time of the part maps, of each grid (cells, images occluded and embedded, seconds,
seconds per cell) and each model's mRD; a second pass over the finished bench shows the resume
cost (every cell kept). Timings on a shared machine are noisy: compare the two models' ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _shared import DATA, ROOT

sys.path.insert(0, str(ROOT / "src"))

from occreid.bench import BenchConfig, parse_parts, parse_severities, run_bench
from occreid.bench.features import BaselineEmbedder, ModelEmbedder
from occreid.evaluation import Preprocess
from occreid.runner import GenerateConfig, generate


def small_cnn(path: Path) -> Path:
    """A 4-stage CNN (3 -> 16 -> 32 -> 64 -> 128 channels, stride 2 each, global average pool): about
    100 k weights, random but fixed (seed 0), saved as TorchScript."""
    import torch

    torch.manual_seed(0)
    layers, c = [], 3
    for out in (16, 32, 64, 128):
        layers += [torch.nn.Conv2d(c, out, 3, stride=2, padding=1), torch.nn.BatchNorm2d(out), torch.nn.ReLU()]
        c = out
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--occlude", choices=["query", "both"], default="query")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--parts-from", type=Path, default=None, help="reuse these saved part maps")
    args = ap.parse_args()
    data = DATA / "ltcc-mini"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = args.parts_from
        if parts is None:
            parts = tmp / "parts"
            t = time.perf_counter()
            generate(GenerateConfig(input=data, output=parts, save_parts=True, workers=args.workers))
            print(f"part maps (embedded parser, {args.workers} workers): {time.perf_counter() - t:.1f} s")
        grid = dict(parts=parse_parts("all"), severities=parse_severities("10-20,20-40,40-60,60-80"),
                    seeds=tuple(range(args.seeds)), protocol=args.occlude)
        import torch

        torch.set_num_threads(args.workers)
        models = {"baseline": BaselineEmbedder(args.workers),
                  "small CNN (TorchScript, 256x128)": ModelEmbedder(small_cnn(tmp / "cnn.ts"), Preprocess(256, 128),
                                                                     64, True, "cpu", args.workers)}
        for name, embedder in models.items():
            out = tmp / name.split()[0]
            cfg = BenchConfig(dataset=data, parts_from=parts, out=out, **grid)
            r = run_bench(cfg, embedder)
            again = run_bench(cfg, embedder)
            cells = r.computed - 1
            print(f"{name}: {cells} cells + clean, {r.embedded} images embedded, {r.seconds:.1f} s "
                  f"({r.seconds / max(1, cells):.2f} s per cell); resume of the finished bench {again.seconds:.1f} s; "
                  f"mRD mAP {r.report['summary']['headline']}")


if __name__ == "__main__":
    main()
