#!/usr/bin/env python
"""Throughput of the SCHP parser: the paper's procedure (one image at a time) vs occreid's batched path.

Same images (real crops from ``shared/data/mars-mini``), same weights (the user's checkpoint, or a
random-weight checkpoint built from ``shared/docs/schp_pascal_expected_keys.txt``: speed does not
depend on the values). Both paths include JPEG decoding and SCHP's pre- and post-processing.

* ``paper``: SCHP's ``simple_extractor`` procedure: float32, the network as loaded, contiguous
  layout, ``torch.no_grad``, one image per forward pass, every step in sequence.
* ``occreid``: ``SCHPParser.iter_parse``: inference_mode, normalisation folded into the
  convolutions, channels-last, float16 autocast on CUDA, decoding and warping of the next batch in
  a background thread, inverse warps in worker threads.

    .venv/bin/python benchmarks/bench_schp.py --images 16 --batch-size 8
    .venv/bin/python benchmarks/bench_schp.py --device cuda --images 512 --batch-size 32

The random checkpoint (267 MB) is written to a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from _shared import DATA, ROOT, SHARED
from PIL import Image

sys.path.insert(0, str(ROOT / "src"))

from occreid.cores import usable_cores
from occreid.parser.schp import SCHPParser
from occreid.parser.schp_net import load_checkpoint
from occreid.parser.schp_transforms import labels_from_logits, normalise_bgr, warp_to_input

KEYS_FILE = SHARED / "docs" / "schp_pascal_expected_keys.txt"
MARS = DATA / "mars-mini"


def random_checkpoint(path: Path, seed: int = 0) -> Path:
    """A checkpoint in the released form ({'state_dict': {'module.<key>': tensor}}) from the key list."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for line in KEYS_FILE.read_text().splitlines():
        key, shape = line.split("\t")
        shape = [int(v) for v in shape.strip("[] ").split(",")]
        if key.endswith("running_var"):
            t = torch.rand(shape, generator=gen) * 0.5 + 0.75
        elif key.endswith("running_mean"):
            t = torch.randn(shape, generator=gen) * 0.1
        elif len(shape) == 4:
            t = torch.randn(shape, generator=gen) * math.sqrt(2.0 / math.prod(shape[1:]))
        elif key.endswith("weight"):
            t = torch.rand(shape, generator=gen) * 0.5 + 0.5
        else:
            t = torch.randn(shape, generator=gen) * 0.1
        state[key] = t
    torch.save({"state_dict": state}, path)
    return path


def pick_images(n: int) -> list[Path]:
    files = sorted(MARS.glob("bbox_*/*/*.jpg"))
    if not files:
        sys.exit(f"no images under {MARS}")
    step = max(1, len(files) // n)
    return files[::step][:n]


def paper_procedure(model, files, device, input_size):
    """SCHP's simple_extractor, one image at a time."""
    out = []
    with torch.no_grad():
        for f in files:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            h, w = bgr.shape[:2]
            x = torch.from_numpy(normalise_bgr(warp_to_input(bgr, input_size)))[None].to(device)
            logits = model(x)
            up = torch.nn.functional.interpolate(
                logits, size=(input_size, input_size), mode="bilinear", align_corners=True
            )
            out.append(labels_from_logits(up[0].permute(1, 2, 0).cpu().numpy(), w, h))
    return out


def decode(files):
    for f in files:
        with Image.open(f) as im:
            yield np.asarray(im.convert("RGB"))


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(args, ckpt: Path, device: torch.device, files: list[Path]) -> list[tuple]:
    # The parser sets the CPU thread count; the paper's path runs under the same setting.
    parser = SCHPParser(ckpt, device=str(device), batch_size=args.batch_size,
                        input_size=args.input_size, threads=args.threads)
    threads = parser.threads or torch.get_num_threads()
    model = load_checkpoint(ckpt, device=device)  # as loaded: unfolded, contiguous, float32
    warm = files[:1]
    paper_procedure(model, warm, device, args.input_size)
    list(parser.iter_parse(decode(warm)))
    list(parser.iter_parse(decode(warm), batch_size=1))

    amp = " fp16" if parser.half else ""
    paths = [
        ("paper: one at a time, fp32", 1, lambda: paper_procedure(model, files, device, args.input_size)),
        ("occreid, batch 1", 1, lambda: list(parser.iter_parse(decode(files), batch_size=1))),
        (f"occreid, batched{amp}", args.batch_size, lambda: list(parser.iter_parse(decode(files)))),
    ]
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    outputs = {}
    # Round-robin over the paths, so that a change in the machine's load hits them alike.
    for _ in range(args.repeats):
        for label, _bs, fn in paths:
            sync(device)
            c0, t0 = cpu_seconds(), time.perf_counter()
            outputs[label] = fn()
            sync(device)
            dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
            if label not in best or dt < best[label]:
                best[label], cpu[label] = dt, dc
    rows = [(label, bs, best[label], cpu[label]) for label, bs, _ in paths]
    ref, res = outputs[paths[0][0]], outputs[paths[2][0]]
    parser.close()
    agree = np.mean([
        (r.parts == p).mean() if r.parts is not None else float(not p.any()) for r, p in zip(res, ref)
    ])
    return rows, threads, agree


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=16, help="mars-mini images to parse (default 16)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--input-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per path; the best is kept")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="an SCHP checkpoint (default: random weights from the key list)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    files = pick_images(args.images)
    with tempfile.TemporaryDirectory(prefix="bench_schp_") as tmp:
        ckpt = args.checkpoint
        if ckpt is None:
            ckpt = random_checkpoint(Path(tmp) / "random-schp-pascal.pth")
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        rows, threads, agree = run(args, ckpt, device, files)
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {usable_cores()} cores available, torch threads {threads}")
    print(f"SCHP AugmentCE2P, input {args.input_size}x{args.input_size}, {len(files)} mars-mini "
          f"crops (128x256), torch {torch.__version__}, device: {name}")
    print(f"weights: {args.checkpoint or 'random (key list)'}; load average {load0:.1f} -> {load1:.1f}")
    print()
    base = rows[0][2]
    print(f"| {'path':<28} | batch | {'seconds':>7} | {'images/s':>8} | {'s/image':>7} | "
          f"CPU s/image | speed-up |")
    print(f"|{'-' * 30}|-------|---------|----------|---------|-------------|----------|")
    for label, bs, secs, cpu_s in rows:
        print(f"| {label:<28} | {bs:>5} | {secs:7.2f} | {len(files) / secs:8.3f} | "
              f"{secs / len(files):7.3f} | {cpu_s / len(files):11.3f} | {base / secs:7.2f}x |")
    print()
    print(f"label agreement, batched vs paper: {100 * agree:.3f}% of pixels")
    if device.type != "cuda":
        print("GPU: " + ("available; rerun with --device cuda" if torch.cuda.is_available()
                         else "none on this machine"))


if __name__ == "__main__":
    main()
