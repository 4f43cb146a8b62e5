"""Benchmark the pasted occluders (person, scene, object) on real crops from saved part maps.

    .venv/bin/python benchmarks/bench_occluders.py                     # 300 mars-mini crops
    .venv/bin/python benchmarks/bench_occluders.py --images 600 --shapes person --max-person-covered 0.6

Parses a spread of crops from both splits once with the embedded parser and saves their part maps
as palette PNGs (as ``--save-parts`` does), then times each shape from those files: read the image,
read its part map, draw and paste the occluder (the images/s a run with ``--parts-from`` would see,
without the encode). Prints per shape: status counts, the share of the drawn part covered, the
changed share of the image and the covered share of the person (10th / 50th / 90th percentiles).
The object shape uses a few flat-coloured objects drawn here (a bin, a car, a bag): bring real
cut-outs to judge its looks. ``--samples DIR`` writes before/after strips to look at.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from _shared import DATA
from PIL import Image

from occreid.occlusion import NOT_COVERED, OCCLUDED, DonorBank, Occluder, OcclusionParams, image_rng
from occreid.occlusion.donors import read_part_map_png
from occreid.parts import PALETTE


class Item(NamedTuple):
    relpath: str
    split: str
    pid: int


def _mars_items(root: Path, count: int) -> list[Item]:
    files = sorted(root.glob("bbox_*/*/*.jpg"))
    step = max(1, len(files) // count)
    return [Item(f.relative_to(root).as_posix(), f.parts[-3], int(f.parent.name)) for f in files[::step][:count]]


def _save_map(path: Path, parts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(parts.astype(np.uint8))
    im.putpalette([c for rgb in PALETTE for c in rgb])
    im.save(path)


def _objects(root: Path) -> Path:
    (root / "ground").mkdir(parents=True)
    (root / "held").mkdir()
    bin_ = np.zeros((120, 80, 4), np.uint8)
    bin_[..., :3] = (40, 90, 50)
    bin_[..., 0] = 40 + np.arange(120)[:, None] // 3  # a vertical gradient
    bin_[10:, 4:76, 3] = 255
    Image.fromarray(bin_).save(root / "ground" / "bin.png")
    car = np.zeros((90, 200, 4), np.uint8)
    car[..., :3] = (180, 40, 40)
    car[30:, :, 3] = 255
    car[5:30, 40:160, 3] = 255
    Image.fromarray(car).save(root / "ground" / "car.png")
    bag = np.zeros((70, 50, 4), np.uint8)
    bag[..., :3] = (30, 30, 150)
    ey, ex = np.mgrid[:70, :50]
    bag[((ey - 35) / 35) ** 2 + ((ex - 25) / 25) ** 2 < 1, 3] = 255
    Image.fromarray(bag).save(root / "held" / "bag.png")
    umbrella = np.zeros((80, 120, 4), np.uint8)
    umbrella[..., :3] = (20, 20, 20)
    uy, ux = np.mgrid[:80, :120]
    umbrella[(((uy - 40) / 40) ** 2 + ((ux - 60) / 60) ** 2 < 1) & (uy < 40), 3] = 255
    umbrella[40:, 58:62, 3] = 255
    Image.fromarray(umbrella).save(root / "held" / "umbrella.png")
    return root


def _pct(values) -> str:
    if not len(values):
        return "    -      -      -"
    p = np.percentile(np.asarray(values) * 100, [10, 50, 90])
    return f"{p[0]:>5.1f}  {p[1]:>5.1f}  {p[2]:>5.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=DATA / "mars-mini")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--shapes", nargs="+", default=["person", "scene", "object"])
    ap.add_argument("--min-cover", type=float, default=None)
    ap.add_argument("--max-person-covered", type=float, default=None)
    ap.add_argument("--samples", type=Path, default=None, help="write 8 before/after strips per shape here")
    args = ap.parse_args()

    from occreid.parser import make_parser

    items = _mars_items(args.dataset, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        parts_dir = Path(tmp) / "parts"
        parser = make_parser("mediapipe")
        t0 = time.perf_counter()
        found = []
        for it in items:
            with Image.open(args.dataset / it.relpath) as im:
                res = parser.parse(np.asarray(im.convert("RGB")))
            if res.parts is not None:
                _save_map(parts_dir / f"{it.relpath}.png", res.parts)
                found.append(it)
        parser.close()
        print(f"dataset {args.dataset.name}: {len(items)} crops, person found in {len(found)} "
              f"(parsed in {time.perf_counter() - t0:.1f} s, maps saved as PNG)\n")
        bank = DonorBank.from_records(items, args.dataset, parts_dir)
        objects = _objects(Path(tmp) / "objects")
        extra = {k: v for k, v in (("min_cover", args.min_cover), ("max_person_covered", args.max_person_covered))
                 if v is not None}
        print(f"{'shape':<7} {'occl.':>5} {'not_cov':>7}   drawn part covered %   image changed %      "
              f"person covered %     images/s")
        print(f"{'':<7} {'':>5} {'':>7}   p10    p50    p90     p10    p50    p90    p10    p50    p90")
        for shape in args.shapes:
            params = OcclusionParams(shape=shape, objects_dir=str(objects) if shape == "object" else None, **extra)
            occluder = Occluder(params, bank)
            covered, changed, person, statuses, strips = [], [], [], {}, []
            t0 = time.perf_counter()
            for it in found:
                with Image.open(args.dataset / it.relpath) as im:
                    pixels = np.asarray(im.convert("RGB"))
                parts = read_part_map_png(parts_dir / f"{it.relpath}.png")
                occ = occluder.plan(parts, image_rng(0, it.relpath), it)
                out = occluder.apply(pixels, occ)
                statuses[occ.status] = statuses.get(occ.status, 0) + 1
                if occ.status == OCCLUDED:
                    covered.append(occ.part_covered)
                    changed.append(float((out != pixels).any(axis=-1).mean()))
                    person.append(float(((occ.alpha >= 0.5) & (parts != 0)).sum() / (parts != 0).sum()))
                    if args.samples and len(strips) < 8:
                        strips.append(np.concatenate([pixels, out], axis=1))
            rate = len(found) / (time.perf_counter() - t0)
            print(f"{shape:<7} {statuses.get(OCCLUDED, 0):>5} {statuses.get(NOT_COVERED, 0):>7}   {_pct(covered)}   "
                  f"{_pct(changed)}  {_pct(person)}   {rate:>7.0f}")
            if strips:
                args.samples.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.concatenate(strips, axis=1)).save(args.samples / f"{shape}.png")


if __name__ == "__main__":
    main()
