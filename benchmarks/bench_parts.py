"""Benchmark where the embedded parser puts the parts, against people annotated by third parties.

    .venv/bin/python benchmarks/bench_parts.py --gt mmpose/tests/data/coco --gt pascal-part-py/examples ...
    .venv/bin/python benchmarks/bench_parts.py --gt DIR --video V --per-set 200 --show-misses

``--gt`` folders hold public annotation samples next to their images: COCO-style keypoint files
(COCO, OCHuman, CrowdPose, MPII-TRB, Halpe, COCO-WholeBody ...), MPI-INF-3DHP's ``.npz``,
human-parsing label maps (LIP, CIHP), Pascal-Part's ``.mat`` files and a DensePose point
annotation (``_gt_people.py`` and ``_gt_parts.py`` read them; docs/part-quality.md says which
public files, and how to get them). Nothing of them is committed: each annotated person becomes a
re-ID-like crop at run time (the person's box with a margin, grown to 1:2, resized to 128 x 256 as
re-ID crops are).

Prints, for the parser's saved part maps:

- per joint, the share of visible annotated keypoints that land on the right part within 3 px
  (nose/eyes/ears -> head, shoulders -> head/torso/upper arm, elbows -> upper/lower arm, wrists
  -> lower arm, hips -> torso/upper leg, knees -> upper/lower leg, ankles -> lower leg); a crop
  whose person is not found counts all its keypoints as misses; the first measurement's people
  (``ORIGINAL``) apart, then per source; extra points (head top, neck, feet, hands ...) apart;
- the person mask (union of the six parts) against the annotated person mask: median IoU;
- the crop's subject: the share of the map on the annotated masks of the crop's other people;
- part IoU against Pascal-Part's person parts, region IoU against LIP / CIHP, DensePose points on
  their part;
- with ``--video``: the share of non-person crops occluded, cut from the video's real footage
  (its median background frame: a parked van, signposts, a lamp post, walls, grass, road), and
  the people found among the demo's HOG crops of the same video;
- label-free consistency checks on the shared sets (head above torso above legs, limbs attached
  to the body, left and right arms / legs of similar size).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _gt_parts import OCCREID_REGION, REGION, densepose_people, parsed_people, pascal_part_people
from _gt_people import ALLOWED, CROP_H, CROP_W, EXTRA_ALLOWED, JOINTS, annotated_people
from _shared import DATA

from occreid.parser.quality import consistency

SETS = ("prcc-mini", "ltcc-mini", "mars-mini", "market1501-mini")
#: The folders of the first measurement (mmpose's samples): their people with visibility flags give
#: the figures of before (25 crops, 303 keypoints), printed apart to compare with.
ORIGINAL = ("coco", "ochuman", "crowdpose", "mhp", "posetrack18", "aic")
#: occreid's six parts, by label.
PARTS = {"head": 1, "torso": 2, "upper arm": 3, "lower arm": 4, "upper leg": 5, "lower leg": 6}


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


def spill(parts: np.ndarray | None, subject: np.ndarray | None, others: np.ndarray | None) -> float | None:
    """The share of the map's pixels on another annotated person and off the subject's annotated
    mask; None when the crop shows no other person's mask, or there is no map or subject mask."""
    if parts is None or subject is None or others is None:
        return None
    off = others & ~subject
    mapped = parts > 0
    if not off.any() or not mapped.any():
        return None
    return float(np.count_nonzero(mapped & off) / np.count_nonzero(mapped))


def _share(hit: int, n: int) -> str:
    return f"{hit}/{n} ({100 * hit / n:.1f}%)" if n else "-"


def annotated_figures(parser, people: list[dict], show: bool) -> None:
    """Parse each annotated crop once and print what its annotations say of the map: keypoints and
    extra points on the right part (per joint, per source, the first measurement's people apart),
    person masks, parsing regions and DensePose's part-labelled points."""
    core, extra, ranked, rows = [], [], defaultdict(list), []
    masks: dict[str, list[float]] = defaultdict(list)
    overlap: dict[tuple[str, str], np.ndarray] = defaultdict(lambda: np.zeros(2))  # (scheme, part): [I, U]
    points: dict[int, list[tuple[bool, bool]]] = defaultdict(list)
    spills: list[tuple[float, str]] = []  # (share of the map on another annotated person, crop)
    for p in people:
        r = parser.parse(p["rgb"])
        orig = p["source"] in ORIGINAL and p["vis_known"]
        misses, on = [], 0
        for j, x, y in p["keypoints"]:
            ok = on_part(r.parts, x, y, ALLOWED[j])
            core.append((orig, p["vis_known"], r.parts is not None, j, ok))
            on += ok
            if not ok:
                got = None if r.parts is None else int(r.parts[min(int(y), CROP_H - 1), min(int(x), CROP_W - 1)])
                misses.append(f"{j}@{x:.0f},{y:.0f}->{got}")
        for k, x, y, src in p["extra"]:
            extra.append((src, k, on_part(r.parts, x, y, EXTRA_ALLOWED[k])))
        iou_p = None
        if p["mask"] is not None and p["mask"].any():
            iou_p = iou(p["mask"], r.parts > 0) if r.parts is not None else 0.0
            masks[p["mask_kind"]].append(iou_p)
        share = spill(r.parts, p["mask"], p.get("others"))
        if share is not None:
            spills.append((share, p["name"]))
        for scheme, truth, names in (("regions", p["regions"], REGION), ("parts", p.get("parts"), PARTS)):
            if truth is None:
                continue
            pred = np.zeros_like(truth) if r.parts is None else OCCREID_REGION[r.parts] if scheme == "regions" \
                else r.parts
            valid = truth != 255
            legs = scheme == "parts" and bool(np.isin(truth, (5, 6)).any())  # a whole person, not a bust
            for name, code in names.items():
                a, b = (truth == code) & valid, (pred == code) & valid
                overlap[scheme, name] += ((a & b).sum(), (a | b).sum())
                if legs:
                    overlap["legs", name] += ((a & b).sum(), (a | b).sum())
        for label, x, y in p["points"]:
            exact = r.parts is not None and int(r.parts[min(int(y), CROP_H - 1), min(int(x), CROP_W - 1)]) == label
            points[label].append((exact, on_part(r.parts, x, y, (label,))))
        if r.quality is not None and p["keypoints"]:
            ranked["all"].append((r.quality, on / len(p["keypoints"]), p["name"]))
            if orig:
                ranked["first measurement"].append(ranked["all"][-1])
        rows.append((p, r.parts is not None, on, len(p["keypoints"]), iou_p))
        if show and (misses or p["regions"] is not None or p.get("parts") is not None):
            print(f"  {p['name']}: {r.source or r.reason} ({r.score:.2f}, quality {r.quality}): {' '.join(misses)}")
    orig_people = [p for p in people if p["source"] in ORIGINAL and p["vis_known"]]
    print(f"\nkeypoints on the right part (within 3 px): first measurement's people ({len(orig_people)} crops of "
          f"{', '.join(ORIGINAL)} with visibility flags) and all {sum(bool(p['keypoints']) for p in people)} "
          "crops with keypoints")
    print(f"{'joint':<10} {'first measurement':>20} {'visibility flagged':>20} {'all':>20}")
    for j in (*JOINTS, None):
        cols = [[ok for *flags, jj, ok in core if (k == 2 or flags[k]) and (j is None or jj == j)] for k in range(3)]
        if cols[2]:
            print(f"{j or 'all':<10} " + " ".join(f"{_share(sum(c), len(c)):>20}" for c in cols))
    on_found = [ok for _, _, found, _, ok in core if found]
    print(f"all keypoints of the crops where a person was found: {_share(sum(on_found), len(on_found))}")
    if extra:
        print("extra points on the right part (within 3 px; head top -> head, neck -> head/torso, spine -> torso, "
              "pelvis -> torso/upper leg, foot -> lower leg, hand -> lower arm)")
        for k in EXTRA_ALLOWED:
            e = [ok for _, kk, ok in extra if kk == k]
            if e:
                print(f"  {k:<9} {_share(sum(e), len(e)):>20}")
    _source_table(rows, extra)
    for kind, v in masks.items():
        q = np.percentile(v, [25, 50, 75])
        print(f"person mask IoU, {len(v)} {kind} masks: median {q[1]:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}), "
              f"mean {np.mean(v):.3f}")
    orig_iou = [i for p, _, _, _, i in rows if i is not None and p["source"] in ORIGINAL and p["vis_known"]]
    if orig_iou:
        print(f"  of which the first measurement's {len(orig_iou)}: median {np.median(orig_iou):.3f}")
    if spills:
        shares = np.array([s for s, _ in spills])
        worst = ", ".join(f"{n} {100 * s:.0f}%" for s, n in sorted(spills, reverse=True) if s > 0.1)
        print(f"map on another annotated person (off the subject's mask), {len(shares)} crops with another "
              f"person's mask in view and a map: median {100 * np.median(shares):.1f}%, mean "
              f"{100 * shares.mean():.1f}% of the map; over 10%: {int((shares > 0.1).sum())}"
              + (f" ({worst})" if worst else ""))
    crops = {"parts": [p for p in people if p.get("parts") is not None],
             "regions": [p for p in people if p["regions"] is not None]}
    crops["legs"] = [p for p in crops["parts"] if np.isin(p["parts"], (5, 6)).any()]
    for scheme, title in (("parts", "part IoU against Pascal-Part's person parts (merged as Pascal-Person-Part)"),
                          ("legs", "  the same, the crops whose legs are labelled"),
                          ("regions", "region IoU against human-parsing labels (LIP, CIHP: head; upper body = torso "
                                      "+ arms; legs)")):
        got = {name: i / u for (s, name), (i, u) in overlap.items() if s == scheme and u}
        if got:
            n = len(crops[scheme])
            print(f"{title}, {n} crops, intersection / union summed over crops: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in got.items()) + f"; mean {np.mean(list(got.values())):.3f}")
    if not overlap:
        print("part IoU: no part labels given (see docs/part-quality.md)")
    if points:
        names = {v: k for k, v in PARTS.items()}
        n = sum(len(v) for v in points.values())
        ex, near = (sum(v[i] for vs in points.values() for v in vs) for i in (0, 1))
        print(f"DensePose part-labelled points on their part: {_share(ex, n)} at the pixel, {_share(near, n)} within "
              "3 px; " + ", ".join(f"{names[k]} {sum(e for e, _ in v)}/{len(v)}" for k, v in sorted(points.items())))
    for name, rk in ranked.items():
        quality_figures(rk, name)


def _source_table(rows: list, extra: list) -> None:
    print(f"\nper source {'crops':>6} {'found':>6} {'keypoints on part':>19} {'extra on part':>17} {'masks':>6} "
          f"{'IoU med':>8}  note")
    for src in dict.fromkeys(p["source"] for p, *_ in rows):
        mine = [row for row in rows if row[0]["source"] == src]
        found = sum(f for _, f, _, _, _ in mine)
        on, n = sum(row[2] for row in mine), sum(row[3] for row in mine)
        e = [ok for s, _, ok in extra if s == src]
        ious = [i for *_, i in mine if i is not None]
        notes = []
        if not all(p["vis_known"] for p, *_ in mine):
            notes.append("visibility not given: labelled points counted")
        if any(p["mask_kind"] == "fitted body model" for p, *_ in mine):
            notes.append("masks of a fitted body model")
        if any(p["regions"] is not None or p.get("parts") is not None for p, *_ in mine):
            notes.append("part labels")
        if any(p["points"] for p, *_ in mine):
            notes.append("part-labelled points")
        med = f"{np.median(ious):.3f}" if ious else "-"
        print(f"{src:<14} {len(mine):>3} {found:>6} {_share(on, n):>19} {_share(sum(e), len(e)):>17} "
              f"{len(ious):>6} {med:>8}  {'; '.join(notes)}")
    for src in dict.fromkeys(s for s, _, _ in extra):
        if src not in {p["source"] for p, *_ in rows}:
            e = [ok for s, _, ok in extra if s == src]
            print(f"{src:<14} {0:>3} {'-':>6} {'-':>19} {_share(sum(e), len(e)):>17} {0:>6} {'-':>8}  "
                  "extra points on people listed by another source")


def quality_figures(ranked: list[tuple[float, float, str]], name: str = "all") -> None:
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
    print(f"part-quality score vs share of keypoints on the right part, {name}, {len(ranked)} parsed crops: Spearman "
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
    ap.add_argument("--gt", type=Path, action="append", default=[],
                    help="folder of annotated people: keypoint files, parsing label maps, DensePose points + images")
    ap.add_argument("--video", type=Path, help="vtest.avi (scripts/demo.sh fetches it to demo/vtest.avi)")
    ap.add_argument("--demo-crops", type=Path, help="the demo's HOG crops of the video (occreid crops VIDEO --out DIR)")
    ap.add_argument("--per-set", type=int, default=200, help="shared-set crops per set for the consistency checks")
    ap.add_argument("--show-misses", action="store_true", help="print each miss and each occluded non-person crop")
    ap.add_argument("--parser", default="mediapipe", choices=("mediapipe", "mediapipe-movenet"),
                    help="the embedded parser, or it with MoveNet Thunder's keypoints (scripts/get-movenet.sh first)")
    args = ap.parse_args()
    missing = [str(f) for f in args.gt if not f.is_dir()]
    if missing:
        print(f"no such folder: {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    from occreid.parser import ParserError, make_parser, options_from_cli

    start = time.perf_counter()
    try:
        parser = make_parser(args.parser, **options_from_cli(args.parser, {}))
    except ParserError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    print(f"parser: {args.parser}")
    if args.gt:
        people = annotated_people(args.gt) + parsed_people(args.gt) + pascal_part_people(args.gt)
        people += densepose_people(args.gt)
        if not people:
            print("no annotated people found under " + ", ".join(map(str, args.gt)), file=sys.stderr)
            sys.exit(2)
        annotated_figures(parser, people, args.show_misses)
        print(f"annotated crops: {len(people)} parsed in {time.perf_counter() - start:.1f} s")
    if args.video:
        video_figures(parser, args.video, args.demo_crops, args.show_misses)
    if args.per_set > 0:
        consistency_figures(parser, args.per_set)
    parser.close()
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
