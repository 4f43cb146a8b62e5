"""Benchmark the embedded parser: per-stage cost, end-to-end speed beside the pose model's floor,
people found on every real set and non-person images rejected.

    .venv/bin/python benchmarks/bench_parser.py                    # everything, 1,000 mars-mini crops
    .venv/bin/python benchmarks/bench_parser.py --images 300 --skip-generate
    .venv/bin/python benchmarks/bench_parser.py --parser mediapipe-graph --only found

Prints, on the same crops in the same run:

- ms per image of each stage in one process: decode, parse, occlude, encode;
- the pose model's floor: decode, letterbox to 256 x 256 and one inference per crop, 1 thread per
  process, in 1 and 2 processes (start-up included, as in a run; and without it);
- ``occreid generate`` end to end with 1 and 2 workers (wall clock, start-up included) and its
  ratio to the floor (regenerating from saved part maps is ``bench_reuse.py``'s);
- per-worker start-up (import + build + first parse) and peak memory (``ru_maxrss`` of a fresh
  process that parsed 100 crops);
- the share of crops with a person found, per set under ../shared/data and per source (pose,
  silhouette), and the share of generated non-person images (noise, empty, walls, textures,
  vehicles, shuffled real tiles) rejected.

Timings are wall clock: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _shared import DATA, copy_crops

SETS = ("prcc-mini", "ltcc-mini", "mars-mini", "market1501-mini")


def image_files(root: Path, limit: int) -> list[Path]:
    """Up to ``limit`` image files under ``root``, evenly strided over the sorted list."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    step = max(1, len(files) // max(1, limit))
    return files[::step][:limit]


# ------------------------------------------------------------------------------------------------
# Non-person images
# ------------------------------------------------------------------------------------------------


def _blur(x: np.ndarray, k: int) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (0, 0), k)


def _van(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A side or front view of a vehicle on a road: a body, windows, wheels, lights."""
    import cv2

    im = np.empty((h, w, 3), np.uint8)
    im[:] = rng.integers(60, 200, 3)
    road = int(h * rng.uniform(0.55, 0.8))
    im[road:] = rng.integers(50, 120, 3)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    dark = (20, 20, 25)
    if rng.random() < 0.5:  # side view, often cut by the crop
        x0, x1 = int(-w * rng.uniform(0, 0.6)), int(w * rng.uniform(0.6, 1.6))
        y0, y1 = int(h * rng.uniform(0.15, 0.4)), road
        cv2.rectangle(im, (x0, y0), (x1, y1), colour, -1)
        cv2.rectangle(im, (x0 + 5, y0 + 6), (x1 - 5, y0 + (y1 - y0) // 3), (90, 110, 130), -1)
        r = max(4, (y1 - y0) // 5)
        for cx in (x0 + (x1 - x0) // 5, x1 - (x1 - x0) // 5):
            cv2.circle(im, (cx, y1), r, dark, -1)
            cv2.circle(im, (cx, y1), r // 2, (150, 150, 150), -1)
    else:  # front view
        x0, x1 = int(w * rng.uniform(0.0, 0.2)), int(w * rng.uniform(0.8, 1.0))
        y0, y1 = int(h * rng.uniform(0.1, 0.35)), road
        cv2.rectangle(im, (x0, y0), (x1, y1), colour, -1)
        cv2.rectangle(im, (x0 + 4, y0 + 4), (x1 - 4, y0 + (y1 - y0) // 2), (80, 100, 120), -1)
        ly = y0 + 3 * (y1 - y0) // 4
        cv2.circle(im, (x0 + (x1 - x0) // 6, ly), max(2, w // 16), (240, 240, 200), -1)
        cv2.circle(im, (x1 - (x1 - x0) // 6, ly), max(2, w // 16), (240, 240, 200), -1)
        cv2.rectangle(im, (x0, y1 - 6), (x0 + (x1 - x0) // 6, y1 + 8), dark, -1)
        cv2.rectangle(im, (x1 - (x1 - x0) // 6, y1 - 6), (x1, y1 + 8), dark, -1)
    noise = rng.normal(0, 6, im.shape)
    return np.clip(_blur(im, 1.0) + noise, 0, 255).astype(np.uint8)


def _wall(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Bricks or concrete panels with mortar lines and grain."""
    base = rng.integers(80, 220, 3).astype(np.float64)
    im = np.zeros((h, w, 3)) + base
    bh, bw = int(rng.integers(8, 24)), int(rng.integers(16, 48))
    ys, xs = np.mgrid[0:h, 0:w]
    row = ys // bh
    xoff = (xs + (row % 2) * bw // 2) % bw
    mortar = (ys % bh < 2) | (xoff < 2)
    im[mortar] = base * 0.6
    im += rng.normal(0, 8, (h // bh + 1, w // bw + 2, 1)).repeat(bh, 0).repeat(bw, 1)[:h, :w]
    im += rng.normal(0, 5, im.shape)
    return np.clip(im, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, checkers, plasma (blurred noise) or foliage-like blobs."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    kind = rng.integers(0, 4)
    if kind == 0:
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 30)
        v = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
        im = 128 + 100 * v[..., None] * rng.uniform(0.3, 1, 3)
    elif kind == 1:
        s = int(rng.integers(4, 32))
        v = ((ys // s + xs // s) % 2)[..., None]
        im = v * rng.integers(0, 256, 3) + (1 - v) * rng.integers(0, 256, 3)
    elif kind == 2:
        im = _blur(rng.normal(128, 80, (h, w, 3)).astype(np.float32), float(rng.uniform(2, 12))) * 3 - 256
    else:
        g = _blur(rng.normal(0, 1, (h, w)).astype(np.float32), float(rng.uniform(2, 6)))
        leaf = (g > 0)[..., None]
        im = leaf * rng.integers(20, 120, 3) + (~leaf) * rng.integers(60, 200, 3) + rng.normal(0, 10, (h, w, 3))
    return np.clip(im, 0, 255).astype(np.uint8)


def _empty(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A uniform colour, a gradient, or a blurred empty scene."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    if kind == 1:
        t = np.linspace(0, 1, h)[:, None, None]
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        return np.broadcast_to(a + (b - a) * t, (h, w, 3)).astype(np.uint8).copy()
    return np.clip(_blur(rng.normal(128, 60, (h, w, 3)).astype(np.float32), 20.0) * 4 - 384, 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    if rng.random() < 0.5:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.clip(rng.normal(128, 50, (h, w, 3)), 0, 255).astype(np.uint8)


def _tiles(rng: np.random.Generator, h: int, w: int, crops: list[np.ndarray]) -> np.ndarray:
    """A real crop cut into 16 x 16 tiles, shuffled: real colours and edges, no person."""
    from PIL import Image

    src = np.asarray(Image.fromarray(crops[int(rng.integers(len(crops)))]).resize((w, h)))
    t = 16
    gh, gw = h // t, w // t
    tiles = src[: gh * t, : gw * t].reshape(gh, t, gw, t, 3).swapaxes(1, 2).reshape(gh * gw, t, t, 3)
    tiles = tiles[rng.permutation(len(tiles))].reshape(gh, gw, t, t, 3).swapaxes(1, 2).reshape(gh * t, gw * t, 3)
    out = src.copy()
    out[: gh * t, : gw * t] = tiles
    return out


def non_person_images(n_per_kind: int, crops: list[np.ndarray], seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``(kind, image)`` pairs without a person: 128 x 256 and 64 x 128 crops of each kind."""
    rng = np.random.default_rng(seed)
    makers = {"noise": _noise, "empty": _empty, "wall": _wall, "texture": _texture, "vehicle": _van}
    out = []
    for kind, make in makers.items():
        for i in range(n_per_kind):
            h, w = (256, 128) if i % 2 == 0 else (128, 64)
            out.append((kind, make(rng, h, w)))
    if crops:
        for i in range(n_per_kind):
            h, w = (256, 128) if i % 2 == 0 else (128, 64)
            out.append(("shuffled tiles", _tiles(rng, h, w, crops)))
    return out


# ------------------------------------------------------------------------------------------------
# Stages in one process
# ------------------------------------------------------------------------------------------------


def stage_times(files: list[Path], parser_name: str) -> dict[str, float]:
    """ms per image of decode, parse, occlude and encode, one process."""
    from occreid.images import decode, encode
    from occreid.occlusion import OcclusionParams
    from occreid.occlusion.transforms import Occluder, image_rng
    from occreid.parser import make_parser

    datas = [f.read_bytes() for f in files]
    parser = make_parser(parser_name)
    parser.parse(np.zeros((256, 128, 3), np.uint8))  # warm
    occluder = Occluder(OcclusionParams())
    t = dict.fromkeys(("decode", "parse", "occlude", "encode"), 0.0)
    sources = Counter()
    for i, data in enumerate(datas):
        t0 = time.perf_counter()
        dec = decode(data)
        t1 = time.perf_counter()
        res = parser.parse(dec.rgb)
        t2 = time.perf_counter()
        pixels = dec.pixels
        if res.parts is not None:
            pixels, _ = occluder(dec.pixels, res.parts, image_rng(0, str(i)))
        t3 = time.perf_counter()
        encode(dec, pixels)
        t4 = time.perf_counter()
        for k, a, b in (("decode", t0, t1), ("parse", t1, t2), ("occlude", t2, t3), ("encode", t3, t4)):
            t[k] += b - a
        sources[res.source or "none"] += 1
    parser.close()
    out = {k: 1000 * v / len(datas) for k, v in t.items()}
    out["sources"] = dict(sources)
    return out


# ------------------------------------------------------------------------------------------------
# The pose model's floor
# ------------------------------------------------------------------------------------------------

_MODEL = None


def _floor_init() -> None:
    global _MODEL
    from occreid.parser.pose import PoseLandmarkModel

    _MODEL = PoseLandmarkModel(threads=1, refine=False)


def _floor_one(path: str) -> float:
    from PIL import Image

    from occreid.parser.pose import crop_roi

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    square, _ = _MODEL.letterbox(rgb, crop_roi(rgb.shape[0], rgb.shape[1], 1.25))
    return _MODEL.infer(square)[1]


def floor(files: list[Path], processes: int) -> tuple[float, float]:
    """Images/s of decode + letterbox + one inference in ``processes`` spawned processes: with
    start-up (pool creation and model load) and without."""
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    with ctx.Pool(processes, _floor_init) as pool:
        pool.map(_floor_one, [str(files[0])] * processes, chunksize=1)  # every worker started
        t1 = time.perf_counter()
        pool.map(_floor_one, [str(f) for f in files], chunksize=8)
        t2 = time.perf_counter()
    return len(files) / (t2 - t0), len(files) / (t2 - t1)


# ------------------------------------------------------------------------------------------------
# End to end
# ------------------------------------------------------------------------------------------------


def end_to_end(src: Path, workers: int, parser_name: str, tmp: Path) -> float:
    """images/s of ``occreid generate`` on ``src``, start-up included."""
    from occreid.runner import GenerateConfig, generate

    cfg = GenerateConfig(input=src, output=tmp / f"out-{workers}", workers=workers, parser=parser_name)
    t0 = time.perf_counter()
    result = generate(cfg)
    return len(result.rows) / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------
# Memory and start-up of one worker
# ------------------------------------------------------------------------------------------------

_WORKER_PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from PIL import Image
from occreid.parser import make_parser
p = make_parser(sys.argv[1])
files = sys.argv[2:]
p.parse(np.asarray(Image.open(files[0]).convert('RGB')))
start = time.perf_counter() - t0
for f in files:
    p.parse(np.asarray(Image.open(f).convert('RGB')))
print(json.dumps({"startup_s": start, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def worker_probe(parser_name: str, files: list[Path]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _WORKER_PROBE, parser_name, *map(str, files)],
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------


def found_shares(parser_name: str, per_set: int, non_person: int) -> None:
    from PIL import Image

    from occreid.parser import make_parser

    parser = make_parser(parser_name)
    print(f"\npeople found ({parser_name}, up to {per_set} crops per set)")
    print(f"{'set':<18} {'crops':>6} {'found':>7} {'pose':>6} {'silh.':>6}  misses")
    crops: list[np.ndarray] = []
    for name in SETS:
        root = DATA / name
        if not root.is_dir():
            print(f"{name:<18} absent")
            continue
        files = image_files(root, per_set)
        results = []
        for f in files:
            with Image.open(f) as im:
                rgb = np.asarray(im.convert("RGB"))
            results.append(parser.parse(rgb))
            if len(crops) < 40 and len(results) % 7 == 0:
                crops.append(rgb)
        n = len(results)
        src = Counter(r.source for r in results if r.parts is not None)
        misses = Counter(r.reason for r in results if r.parts is None)
        found = sum(r.parts is not None for r in results)
        print(f"{name:<18} {n:>6} {100 * found / n:>6.1f}% {src['pose']:>6} {src['silhouette']:>6}  "
              f"{dict(misses.most_common(3))}")
    market = DATA / "market1501-mini"
    if market.is_dir() and parser_name == "mediapipe":
        # Crops zero-padded left and right to a square, as some public sets ship them (JPEG again).
        import io

        from PIL import Image

        padded = []
        for f in image_files(market, per_set):
            with Image.open(f) as im:
                rgb = np.asarray(im.convert("RGB"))
            h, w = rgb.shape[:2]
            square = np.zeros((h, h, 3), np.uint8)
            square[:, (h - w) // 2 : (h - w) // 2 + w] = rgb
            buf = io.BytesIO()
            Image.fromarray(square).save(buf, "JPEG", quality=90)
            padded.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        untrimmed = make_parser(parser_name, trim=False)
        with_trim = np.mean([parser.parse(im).parts is not None for im in padded])
        without = np.mean([untrimmed.parse(im).parts is not None for im in padded])
        untrimmed.close()
        print(f"{'market1501, padded':<18} {len(padded):>6} {100 * with_trim:>6.1f}%   "
              f"(black bars trimmed; {100 * without:.1f}% without trimming)")
    images = non_person_images(non_person, crops)
    by_kind: dict[str, list[bool]] = {}
    for kind, im in images:
        by_kind.setdefault(kind, []).append(parser.parse(im).parts is None)
    listed = [x for k, v in by_kind.items() if k != "shuffled tiles" for x in v]
    print(f"\nnon-person images rejected: {100 * np.mean(listed):.1f}% of {len(listed)} "
          "(noise, empty, walls, textures, vehicles)  "
          + "  ".join(f"{k} {sum(v)}/{len(v)}" for k, v in by_kind.items()))
    tiles = by_kind.get("shuffled tiles", [])
    if tiles:
        print(f"shuffled tiles of real crops (body fragments, a harder case) rejected: {100 * np.mean(tiles):.1f}%")
    parser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DATA / "mars-mini")
    ap.add_argument("--images", type=int, default=1000, help="crops for the speed figures")
    ap.add_argument("--per-set", type=int, default=300, help="crops per set for the found shares")
    ap.add_argument("--non-person", type=int, default=40, help="generated images per non-person kind")
    ap.add_argument("--parser", default="mediapipe")
    ap.add_argument("--only", choices=("speed", "found"), help="run only one half")
    ap.add_argument("--skip-generate", action="store_true", help="no end-to-end runs")
    args = ap.parse_args()
    if not args.dataset.is_dir():
        sys.exit(f"no dataset at {args.dataset} (the shared data folder is absent)")

    if args.only != "found":
        files = image_files(args.dataset, args.images)
        print(f"dataset: {args.dataset} ({len(files)} crops), parser: {args.parser}")
        st = stage_times(files[: min(len(files), 300)], args.parser)
        stages = ("decode", "parse", "occlude", "encode")
        print("\nms per image, one process:  " + "  ".join(f"{k} {st[k]:.2f}" for k in stages))
        print(f"  part-map sources: {st['sources']}")
        fl = {p: floor(files, p) for p in (1, 2)}
        for p, (with_start, steady) in fl.items():
            print(f"pose model floor, {p} process(es): {with_start:.1f} images/s (start-up included), "
                  f"{steady:.1f} steady")
        probe = worker_probe(args.parser, files[:100])
        print(f"one worker: start-up {probe['startup_s']:.2f} s (import, build, first parse), "
              f"peak memory {probe['maxrss_mb']:.0f} MB (ru_maxrss after 100 crops)")
        if not args.skip_generate:
            with tempfile.TemporaryDirectory() as tmpdir:
                tmp = Path(tmpdir)
                src = tmp / "in"
                copy_crops(args.dataset, [f.relative_to(args.dataset) for f in files], src)
                print(f"\n{'workers':>8} {'images/s':>9} {'floor':>7} {'ratio':>6}   "
                      "(occreid generate, start-up included)")
                for workers in (1, 2):
                    ips = end_to_end(src, workers, args.parser, tmp)
                    fl_ips = fl[workers][0]
                    print(f"{workers:>8} {ips:>9.1f} {fl_ips:>7.1f} {fl_ips / ips:>6.2f}x")
                print("regenerating from saved part maps (--parts-from): benchmarks/bench_reuse.py (a fresh process, "
                      "as the command runs it: this one has loaded the parser, so its pools would spawn, not fork)")
    if args.only != "speed":
        found_shares(args.parser, args.per_set, args.non_person)


if __name__ == "__main__":
    main()
