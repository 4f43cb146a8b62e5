"""Benchmark where the embedded parser puts the parts, against people annotated by third parties.

    .venv/bin/python benchmarks/bench_parts.py --gt /tmp/mmpose-data --video demo/vtest.avi
    .venv/bin/python benchmarks/bench_parts.py --gt DIR --video V --per-set 200 --show-misses

``--gt`` folders hold COCO-style annotation files (``images``, ``annotations`` with ``bbox`` and
``keypoints``, ``categories`` naming the keypoints; ``segmentation`` polygons or RLE when given)
next to the images they name: the sample folders of public pose data sets (see
docs/part-quality.md for which public files, and how to get them). Nothing of them is committed:
each annotated person becomes a re-ID-like crop at run time (the person's box with a margin, grown
to 1:2, resized to 128 x 256 as re-ID crops are).

Prints, for the parser's saved part maps:

- per joint, the share of visible annotated keypoints that land on the right part within 3 px
  (nose/eyes/ears -> head, shoulders -> head/torso/upper arm, elbows -> upper/lower arm, wrists
  -> lower arm, hips -> torso/upper leg, knees -> upper/lower leg, ankles -> lower leg); a crop
  whose person is not found counts all its keypoints as misses;
- the person mask (union of the six parts) against the annotated person mask: median IoU;
- with ``--video``: the share of non-person crops occluded, cut from the video's real footage
  (its median background frame: a parked van, signposts, a lamp post, walls, grass, road), and
  the people found among the demo's HOG crops of the same video;
- label-free consistency checks on the shared sets (head above torso above legs, limbs attached
  to the body, left and right arms / legs of similar size).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from _shared import DATA

from occreid.parser.quality import consistency

#: The joints scored and the labels each may land on (0 bg, 1 head, 2 torso, 3 upper arms,
#: 4 lower arms, 5 upper legs, 6 lower legs).
ALLOWED: dict[str, tuple[int, ...]] = {
    "nose": (1,), "eye": (1,), "ear": (1,),
    "shoulder": (1, 2, 3), "elbow": (3, 4), "wrist": (4,),
    "hip": (2, 5), "knee": (5, 6), "ankle": (6,),
}
JOINTS = tuple(ALLOWED)
CROP_W, CROP_H = 128, 256
SETS = ("prcc-mini", "ltcc-mini", "mars-mini", "market1501-mini")


def joint_of(name: str) -> str | None:
    """The scored joint a keypoint name means ('left_shoulder', 'Right-ankle', 'Left Wrist' ...)."""
    n = name.lower().replace("-", "_").replace(" ", "_")
    for j in JOINTS:
        if n.endswith(j) and (n == j or n.split("_")[0] in ("left", "right")):
            return j
    return None


# ------------------------------------------------------------------------------------------------
# Annotated people -> re-ID-like crops
# ------------------------------------------------------------------------------------------------


def rle_decode(counts: str | list, h: int, w: int) -> np.ndarray:
    """A COCO run-length mask (compressed string or list of counts), column-major, to H x W bool."""
    if isinstance(counts, str):
        runs, p = [], 0
        while p < len(counts):
            x, k, more = 0, 0, True
            while more:
                c = ord(counts[p]) - 48
                x |= (c & 0x1F) << (5 * k)
                more = bool(c & 0x20)
                p += 1
                k += 1
                if not more and (c & 0x10):
                    x |= -1 << (5 * k)
            if len(runs) > 2:
                x += runs[-2]
            runs.append(x)
    else:
        runs = list(counts)
    flat = np.zeros(h * w, dtype=bool)
    pos, val = 0, False
    for r in runs:
        if val:
            flat[pos : pos + r] = True
        pos += r
        val = not val
    return flat.reshape(w, h).T


def person_mask(seg, h: int, w: int) -> np.ndarray | None:
    """The annotated mask of one person (polygons or RLE), or None when there is none."""
    import cv2

    if not seg:
        return None
    if isinstance(seg, dict):
        return rle_decode(seg["counts"], *seg.get("size", (h, w)))
    m = np.zeros((h, w), np.uint8)
    for poly in seg:
        pts = np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 2)).astype(np.int32)
        if len(pts) >= 3:
            cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def reid_box(box, h: int, w: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """A detector-like box around ``box`` (x, y, w, h): ``margin`` on each side, grown to a 1:2
    width:height aspect, clipped to the image. Returns (x0, y0, x1, y1)."""
    x, y, bw, bh = (float(v) for v in box)
    cx, cy = x + bw / 2, y + bh / 2
    bw, bh = bw * (1 + 2 * margin), bh * (1 + 2 * margin)
    bw, bh = max(bw, bh / 2), max(bh, 2 * bw)
    x0, y0 = int(max(0, round(cx - bw / 2))), int(max(0, round(cy - bh / 2)))
    x1, y1 = int(min(w, round(cx + bw / 2))), int(min(h, round(cy + bh / 2)))
    return x0, y0, x1, y1


def annotated_people(folders: list[Path], min_keypoints: int = 6, min_height: int = 64) -> list[dict]:
    """Every annotated person of the COCO-style files under ``folders`` as a re-ID-like crop:
    ``{"name", "rgb" (256 x 128 x 3), "keypoints": [(joint, x, y)], "mask": bool or None}``.
    People with fewer than ``min_keypoints`` visible scored keypoints, a box lower than
    ``min_height`` px, crowd regions and virtual (drawn) humans are skipped."""
    import cv2

    people, seen = [], set()
    for folder in folders:
        for ann_file in sorted(folder.rglob("*.json")):
            try:
                data = json.loads(ann_file.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
                continue
            cats = {c["id"]: [joint_of(k) for k in c.get("keypoints", [])] for c in data["categories"]}
            images = {im["id"]: im for im in data["images"]}
            for ann in data["annotations"]:
                names = cats.get(ann.get("category_id"))
                im = images.get(ann.get("image_id"))
                if not names or im is None or ann.get("iscrowd") or "bbox" not in ann:
                    continue
                if "virtual" in im["file_name"]:
                    continue
                path = _find_image(ann_file.parent, folder, im["file_name"])
                if path is None:
                    continue
                key = (path.resolve(), tuple(round(float(v)) for v in ann["bbox"]))
                if key in seen:  # the same person in two annotation files
                    continue
                seen.add(key)
                kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
                vis = [(j, x, y) for j, (x, y, v) in zip(names, kp) if j is not None and v == 2]
                if len(vis) < min_keypoints or ann["bbox"][3] < min_height:
                    continue
                bgr = cv2.imread(str(path))
                if bgr is None:
                    continue
                h, w = bgr.shape[:2]
                x0, y0, x1, y1 = reid_box(ann["bbox"], h, w)
                sx, sy = CROP_W / (x1 - x0), CROP_H / (y1 - y0)
                rgb = cv2.resize(bgr[y0:y1, x0:x1, ::-1], (CROP_W, CROP_H), interpolation=cv2.INTER_AREA)
                mask = person_mask(ann.get("segmentation"), h, w)
                if mask is not None:
                    mask = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), (CROP_W, CROP_H),
                                      interpolation=cv2.INTER_NEAREST).astype(bool)
                kps = [(j, (x - x0) * sx, (y - y0) * sy) for j, x, y in vis]
                kps = [(j, x, y) for j, x, y in kps if 0 <= x < CROP_W and 0 <= y < CROP_H]
                people.append({"name": f"{path.parent.name}/{path.stem}#{ann['id']}", "rgb": np.ascontiguousarray(rgb),
                               "keypoints": kps, "mask": mask})
    return people


def _find_image(here: Path, root: Path, file_name: str) -> Path | None:
    for base in (here, root, here.parent):
        p = base / file_name
        if p.is_file():
            return p
    hits = sorted(root.rglob(Path(file_name).name))
    return hits[0] if hits else None


def on_part(parts: np.ndarray | None, x: float, y: float, allowed: tuple[int, ...], radius: int = 3) -> bool:
    """Does a label in ``allowed`` lie within ``radius`` px of (x, y) in the map?"""
    if parts is None:
        return False
    h, w = parts.shape
    cx, cy = int(x), int(y)
    yy, xx = np.mgrid[max(0, cy - radius) : min(h, cy + radius + 1), max(0, cx - radius) : min(w, cx + radius + 1)]
    near = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius * radius
    return bool(np.isin(parts[yy[near], xx[near]], allowed).any())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# ------------------------------------------------------------------------------------------------
# Non-person crops from real footage
# ------------------------------------------------------------------------------------------------

#: Regions of vtest.avi's 768 x 576 frame (x0, y0, x1, y1) that hold no person in its median
#: background: the parked white van (13 framings), signposts, the lamp post, a tripod, walls,
#: grass, road and the car at the right edge.
VAN = [(640, 30, 730, 110), (650, 20, 720, 120), (645, 40, 700, 110), (670, 35, 730, 105), (655, 0, 715, 120),
       (630, 10, 740, 120), (650, 45, 690, 100), (680, 40, 728, 100), (660, 30, 705, 105), (640, 0, 700, 115),
       (665, 20, 740, 115), (655, 50, 725, 100), (620, 0, 735, 125)]
SCENE = {
    "sign": [(405, 195, 450, 255), (395, 180, 460, 300), (580, 30, 625, 110), (735, 145, 768, 230)],
    "lamp post": [(400, 20, 450, 200), (405, 230, 455, 400), (395, 100, 465, 300)],
    "tripod": [(455, 330, 530, 490), (425, 110, 470, 185)],
    "wall": [(320, 30, 420, 100), (480, 20, 570, 110), (0, 0, 60, 60), (120, 0, 200, 50), (220, 0, 300, 70)],
    "car": [(730, 40, 768, 100), (720, 30, 768, 110)],
    "grass": [(100, 300, 180, 460), (550, 460, 650, 576), (200, 420, 260, 560), (20, 250, 90, 400)],
    "road": [(550, 200, 620, 340), (250, 220, 310, 330), (600, 300, 700, 480)],
    "cones": [(25, 160, 60, 200), (280, 175, 320, 215), (160, 175, 190, 215)],
}


def median_frame(video: Path, step: int = 20) -> np.ndarray:
    """The per-pixel median of every ``step``-th frame: the scene without the people walking by
    (RGB)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            frames.append(frame)
        i += 1
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read {video}")
    return np.ascontiguousarray(np.median(np.stack(frames), axis=0).astype(np.uint8)[:, :, ::-1])


def non_person_crops(video: Path) -> list[tuple[str, np.ndarray]]:
    """(kind, crop) for every region above, cut from the video's median frame and resized to
    128 x 256 like a re-ID crop."""
    import cv2

    bg = median_frame(video)
    out = []
    for kind, boxes in [("van", VAN), *SCENE.items()]:
        for x0, y0, x1, y1 in boxes:
            crop = bg[y0:y1, x0:x1]
            out.append((kind, cv2.resize(crop, (CROP_W, CROP_H), interpolation=cv2.INTER_LINEAR)))
    return out


# ------------------------------------------------------------------------------------------------
# Label-free consistency
# ------------------------------------------------------------------------------------------------


def image_files(root: Path, limit: int) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    step = max(1, len(files) // max(1, limit))
    return files[::step][:limit]


def letterbox(rgb: np.ndarray, w: int = 64, h: int = 128) -> np.ndarray:
    """``rgb`` shrunk to fit ``w`` x ``h`` (aspect kept), centred on black."""
    import cv2

    k = min(w / rgb.shape[1], h / rgb.shape[0])
    nw, nh = max(1, round(rgb.shape[1] * k)), max(1, round(rgb.shape[0] * k))
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def keypoint_figures(parser, people: list[dict], show: bool) -> None:
    hit, total = defaultdict(int), defaultdict(int)
    ious, found, ranked = [], 0, []
    for p in people:
        r = parser.parse(p["rgb"])
        found += r.parts is not None
        misses, on = [], 0
        for j, x, y in p["keypoints"]:
            ok = on_part(r.parts, x, y, ALLOWED[j])
            hit[j] += ok
            total[j] += 1
            on += ok
            if not ok:
                got = None if r.parts is None else int(r.parts[min(int(y), CROP_H - 1), min(int(x), CROP_W - 1)])
                misses.append(f"{j}@{x:.0f},{y:.0f}->{got}")
        if p["mask"] is not None and p["mask"].any():
            ious.append(iou(p["mask"], r.parts > 0) if r.parts is not None else 0.0)
        if r.quality is not None:
            ranked.append((r.quality, on / len(p["keypoints"]), p["name"]))
        if show and misses:
            print(f"  {p['name']}: {r.source or r.reason} ({r.score:.2f}, quality {r.quality}): {' '.join(misses)}")
    n_hit, n_all = sum(hit.values()), sum(total.values())
    print(f"\nkeypoints on the right part (within 3 px), {len(people)} annotated crops, person found in {found}")
    print(f"{'joint':<10} {'on part':>8} {'of':>5} {'share':>7}")
    for j in JOINTS:
        if total[j]:
            print(f"{j:<10} {hit[j]:>8} {total[j]:>5} {100 * hit[j] / total[j]:>6.1f}%")
    print(f"{'all':<10} {n_hit:>8} {n_all:>5} {100 * n_hit / max(1, n_all):>6.1f}%")
    if ious:
        q = np.percentile(ious, [25, 50, 75])
        print(f"person mask IoU ({len(ious)} annotated masks): median {q[1]:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}), "
              f"mean {np.mean(ious):.3f}")
    print("part IoU: no human-parsing labels given (see docs/part-quality.md)")
    quality_figures(ranked)


def quality_figures(ranked: list[tuple[float, float, str]]) -> None:
    """Does the part-quality score rank the maps as the annotations do? Spearman's rank
    correlation between each parsed crop's score and its share of keypoints on the right part."""
    from scipy.stats import spearmanr

    if len(ranked) < 3:
        return
    q, share, _ = zip(*ranked, strict=True)
    rho = spearmanr(q, share)
    ordered = sorted(ranked)
    k = max(1, len(ranked) // 4)
    low, rest = np.mean([s for _, s, _ in ordered[:k]]), np.mean([s for _, s, _ in ordered[k:]])
    print(f"part-quality score vs share of keypoints on the right part, {len(ranked)} parsed crops: Spearman "
          f"{rho.statistic:+.3f} (p {rho.pvalue:.3f}); the lowest-scored quarter has {100 * low:.1f}% of its "
          f"keypoints on the right part, the rest {100 * rest:.1f}%")


def video_figures(parser, video: Path, demo_crops: Path | None, show: bool) -> None:
    from collections import Counter

    occluded, seen = Counter(), Counter()
    for kind, rgb in non_person_crops(video):
        r = parser.parse(rgb)
        seen[kind] += 1
        if r.parts is not None:
            occluded[kind] += 1
            if show:
                print(f"  occluded {kind}: {r.source} presence {r.score:.2f}, quality {r.quality}")
    n_occ, n = sum(occluded.values()), sum(seen.values())
    print(f"\nnon-person crops from {video.name} occluded: {n_occ}/{n} ({100 * n_occ / n:.1f}%); van crops "
          f"rejected {seen['van'] - occluded['van']}/{seen['van']}")
    print("  " + ", ".join(f"{k} {occluded[k]}/{seen[k]}" for k in seen))
    if demo_crops is not None:
        files = image_files(demo_crops, 10**6)
        reasons = Counter()
        found = 0
        for f in files:
            r = parser.parse(read_rgb(f))
            found += r.parts is not None
            if r.parts is None:
                reasons[r.reason.split(":")[0]] += 1
                if show:
                    print(f"  no person {f.name}: {r.reason}")
        print(f"demo crops (HOG boxes of {video.name}): person found in {found}/{len(files)}; misses: {dict(reasons)}")
        padded = sum(parser.parse(letterbox(read_rgb(f))).parts is not None for f in files)
        print(f"the same, shrunk into 64 x 128 with black bars (a hard case): person found in {padded}/{len(files)} "
              f"({100 * padded / len(files):.1f}%)")


def consistency_figures(parser, per_set: int) -> None:
    print(f"\nlabel-free consistency (share of parsed maps passing; up to {per_set} crops per set)")
    print(f"{'set':<18} {'parsed':>7} {'order':>7} {'attached':>9} {'symmetric':>10}")
    for name in SETS:
        root = DATA / name
        if not root.is_dir():
            continue
        checks = defaultdict(list)
        parsed = 0
        for f in image_files(root, per_set):
            r = parser.parse(read_rgb(f))
            if r.parts is None:
                continue
            parsed += 1
            for k, v in consistency(r.parts).items():
                if v is not None:
                    checks[k].append(v)
        cells = [f"{100 * np.mean(checks[k]):.1f}%" if checks[k] else "-" for k in ("order", "attached", "symmetric")]
        print(f"{name:<18} {parsed:>7} {cells[0]:>7} {cells[1]:>9} {cells[2]:>10}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", type=Path, action="append", default=[], help="folder of COCO-style annotations + images")
    ap.add_argument("--video", type=Path, help="vtest.avi (scripts/demo.sh fetches it to demo/vtest.avi)")
    ap.add_argument("--demo-crops", type=Path, help="the demo's HOG crops of the video (occreid crops VIDEO --out DIR)")
    ap.add_argument("--per-set", type=int, default=200, help="shared-set crops per set for the consistency checks")
    ap.add_argument("--show-misses", action="store_true", help="print each miss and each occluded non-person crop")
    args = ap.parse_args()
    from occreid.parser.direct import DirectParser

    parser = DirectParser()
    if args.gt:
        people = annotated_people(args.gt)
        if not people:
            sys.exit("no annotated people found under " + ", ".join(map(str, args.gt)))
        keypoint_figures(parser, people, args.show_misses)
    if args.video:
        video_figures(parser, args.video, args.demo_crops, args.show_misses)
    if args.per_set > 0:
        consistency_figures(parser, args.per_set)
    parser.close()


if __name__ == "__main__":
    main()
