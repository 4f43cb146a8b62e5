"""Third-party annotated people, cut into re-ID-like crops at run time (for ``bench_parts.py``).

Why a module of its own: the public sample folders that hold annotated people come in several
formats (COCO-style pose files, COCO-WholeBody's and Halpe's whole-body points, MPII-TRB without
boxes, a 3D-pose ``.npz``; part labels are ``_gt_parts``'s), and each says "visible" and "person"
its own way. This module turns them into one record per person, so the benchmark scores every
source alike. Nothing here is committed data: the folders are read where the user put
them (docs/part-quality.md says which public files, and how to get them).

A person is a dict: ``name``, ``source`` (the ``--gt`` folder's name), ``rgb`` (256 x 128 x 3),
``keypoints`` [(joint, x, y)] (the nine scored joint kinds of ``ALLOWED``), ``extra``
[(kind, x, y, source)] (the kinds of ``EXTRA_ALLOWED``), ``mask`` (bool or None) and ``mask_kind``,
``regions`` and ``points`` (part labels: ``_gt_parts`` sets them), ``vis_known`` (False where the
file only says "labelled") and ``others`` (bool: the annotated masks of the image's other people,
crowd regions included, where the file has masks; else None).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CROP_W, CROP_H = 128, 256

#: The scored joints and the labels each may land on (0 bg, 1 head, 2 torso, 3 upper arms,
#: 4 lower arms, 5 upper legs, 6 lower legs).
ALLOWED: dict[str, tuple[int, ...]] = {
    "nose": (1,), "eye": (1,), "ear": (1,),
    "shoulder": (1, 2, 3), "elbow": (3, 4), "wrist": (4,),
    "hip": (2, 5), "knee": (5, 6), "ankle": (6,),
}
JOINTS = tuple(ALLOWED)

#: Further annotated points, scored apart so that the nine joints' figures stay comparable: the
#: head's top, the neck (MPII's thorax, H36M's neck base), the spine, the pelvis (between the
#: hips), the feet (toes, heels, H36M's "foot") and the hands (finger joints).
EXTRA_ALLOWED: dict[str, tuple[int, ...]] = {
    "head top": (1,), "neck": (1, 2), "spine": (2,), "pelvis": (2, 5), "foot": (6,), "hand": (4,),
}
_EXTRA_NAMES = {
    "head": "head top", "head_top": "head top", "headtop": "head top",
    "neck": "neck", "upper_neck": "neck", "neck_base": "neck", "thorax": "neck",
    "spine": "spine", "belly": "spine",
    "pelvis": "pelvis", "root_(pelvis)": "pelvis", "root": "pelvis", "hip": "pelvis",
    "foot": "foot", "big_toe": "foot", "small_toe": "foot", "heel": "foot", "hand": "hand",
}

#: Halpe-FullBody's 136 points (its files name none): COCO's 17, head, neck, hip (the pelvis),
#: six foot points, 68 face points, 21 per hand.
_COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
           "right_knee", "left_ankle", "right_ankle"]
HALPE136 = (_COCO17 + ["head", "neck", "hip"] + ["left_big_toe", "right_big_toe", "left_small_toe",
            "right_small_toe", "left_heel", "right_heel"] + ["face"] * 68 + ["left_hand"] * 21 + ["right_hand"] * 21)
#: MPI-INF-3DHP's 17 joints, in the order of mmpose's ``.npz`` samples (``part``).
MPI_INF_3DHP17 = ["head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                  "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                  "left_ankle", "root", "spine", "head"]

def _norm(name: str) -> str:
    return name.lower().strip().replace("-", "_").replace(" ", "_")


def joint_of(name: str) -> str | None:
    """The scored joint a keypoint name means ('left_shoulder', 'Right-ankle', 'Left Wrist' ...)."""
    n = _norm(name)
    if n == "hip":  # Halpe's point between the hips: the pelvis
        return None
    for j in JOINTS:
        if n.endswith(j) and (n == j or n.split("_")[0] in ("left", "right")):
            return j
    return None


def extra_of(name: str) -> str | None:
    """The extra kind a keypoint name means ('head_top', 'root (pelvis)', 'left_big_toe' ...), or None
    (the nine joints, face points, TRB's limb-contour points)."""
    n = _norm(name)
    if n in _EXTRA_NAMES:
        return _EXTRA_NAMES[n]
    side, _, rest = n.partition("_")
    kind = _EXTRA_NAMES.get(rest) if side in ("left", "right") else None
    return kind if kind in ("foot", "hand") else None  # 'left_hip' is a joint, not the pelvis


# ------------------------------------------------------------------------------------------------
# Masks and crops
# ------------------------------------------------------------------------------------------------


def rle_decode(counts: str | list, h: int, w: int) -> np.ndarray:
    """A COCO run-length mask (compressed string or list of counts), column-major, to H x W bool."""
    if isinstance(counts, str):
        runs: list[int] = []
        p = 0
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

    if not seg or (isinstance(seg, list) and not any(len(p) >= 6 for p in seg)):
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


class Crop:
    """One person's re-ID-like crop of an image: cuts the pixels, maps, points the same way."""

    def __init__(self, bgr: np.ndarray, box_xywh):
        import cv2

        h, w = bgr.shape[:2]
        self.x0, self.y0, x1, y1 = reid_box(box_xywh, h, w)
        self.sx, self.sy = CROP_W / (x1 - self.x0), CROP_H / (y1 - self.y0)
        self.x1, self.y1, self.h, self.w = x1, y1, h, w
        self.rgb = np.ascontiguousarray(cv2.resize(bgr[self.y0 : y1, self.x0 : x1, ::-1], (CROP_W, CROP_H),
                                                   interpolation=cv2.INTER_AREA))

    def labels(self, m: np.ndarray) -> np.ndarray:
        """A full-image mask or label map cut and resized (nearest) like the pixels."""
        import cv2

        return cv2.resize(m[self.y0 : self.y1, self.x0 : self.x1].astype(np.uint8), (CROP_W, CROP_H),
                          interpolation=cv2.INTER_NEAREST)

    def point(self, x: float, y: float) -> tuple[float, float] | None:
        """(x, y) in crop pixels, or None outside the crop."""
        cx, cy = (x - self.x0) * self.sx, (y - self.y0) * self.sy
        return (cx, cy) if 0 <= cx < CROP_W and 0 <= cy < CROP_H else None


def _image_key(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _find_image(here: Path, root: Path, file_name: str) -> Path | None:
    for base in (here, root, here.parent):
        p = base / file_name
        if p.is_file():
            return p
    hits = sorted(root.rglob(Path(file_name).name))
    return hits[0] if hits else None


def _fitted_mask(root: Path, image: Path, h: int, w: int) -> np.ndarray | None:
    """Human3.6M's body-model ground truth (mmpose's ``h36m/BF_IUV_gt/<image stem>_<x>_<y>.png``,
    IUV images of a body model fitted to the motion capture): its I channel > 0 is the person."""
    import cv2

    for p in sorted(root.rglob(f"{image.stem}_*.png")):
        if "iuv" in p.parent.name.lower():
            iuv = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if iuv is not None and iuv.ndim == 3 and iuv.shape[:2] == (h, w):
                return iuv[:, :, 0] > 0
    return None


# ------------------------------------------------------------------------------------------------
# Keypoint files: COCO-style JSON (COCO, OCHuman, CrowdPose, ..., Halpe, COCO-WholeBody) and .npz
# ------------------------------------------------------------------------------------------------


def _coco_people(ann_file: Path, folder: Path):
    """(image path, bbox, names, keypoints (N x 3), visible-is-2, extra (kind, x, y, v) list, seg,
    the other annotations' segs of the same image) per person."""
    try:
        data = json.loads(ann_file.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        return
    cats = {c["id"]: c.get("keypoints", []) for c in data["categories"]}
    images = {im["id"]: im for im in data["images"]}
    segs: dict = {}  # image id -> [(annotation id, seg)] of every annotation with a mask
    for a in data["annotations"]:
        if a.get("segmentation"):
            segs.setdefault(a.get("image_id"), []).append((id(a), a["segmentation"]))
    anns = [a for a in data["annotations"] if a.get("keypoints")]
    marks = [v for a in anns for v in a["keypoints"][2::3]]
    vis_known = any(v == 2 for v in marks)
    for ann in anns:
        im = images.get(ann.get("image_id"))
        names = cats.get(ann.get("category_id"))
        if im is None or names is None or ann.get("iscrowd") or "virtual" in im["file_name"]:
            continue
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        if not names and len(kp) == len(HALPE136):
            names = HALPE136
        if len(names) != len(kp):
            continue
        extra = []
        for field, kind, valid in (("foot_kpts", "foot", "foot_valid"), ("lefthand_kpts", "hand", "lefthand_valid"),
                                   ("righthand_kpts", "hand", "righthand_valid")):
            if ann.get(field) and ann.get(valid, True):
                extra += [(kind, x, y, v) for x, y, v in np.asarray(ann[field], np.float64).reshape(-1, 3)]
        box = ann.get("bbox")
        if not box:  # MPII-TRB: no box; the labelled points (joints and limb contours) span the person
            pts = kp[kp[:, 2] > 0, :2]
            if len(pts) < 2:
                continue
            (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
            box = [x0, y0, x1 - x0, y1 - y0]
        path = _find_image(ann_file.parent, folder, im["file_name"])
        if path is not None:
            others = [seg for key, seg in segs.get(ann.get("image_id"), []) if key != id(ann)]
            yield path, box, names, kp, vis_known, extra, ann.get("segmentation"), others


def _npz_people(npz: Path, folder: Path):
    """MPI-INF-3DHP's samples (``imgname``, ``part``: 17 x (x, y, labelled)); 2D points projected from
    the capture, so the file says which are labelled, not which are visible."""
    if "3dhp" not in npz.name.lower():
        return
    z = np.load(npz)
    if not {"imgname", "part"} <= set(z.files) or z["part"].shape[1:] != (17, 3):
        return
    for name, kp in zip(z["imgname"], z["part"]):
        path = _find_image(npz.parent, folder, str(name))
        pts = kp[kp[:, 2] > 0, :2]
        if path is None or len(pts) < 2:
            continue
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        yield path, [x0, y0, x1 - x0, y1 - y0], MPI_INF_3DHP17, kp.astype(np.float64), False, [], None, []


def annotated_people(folders: list[Path], min_keypoints: int = 6, min_height: int = 64) -> list[dict]:
    """Every annotated person of the keypoint files under ``folders`` as a re-ID-like crop (see the
    module's docstring for the record). People with fewer than ``min_keypoints`` visible scored
    keypoints, a box lower than ``min_height`` px, crowd regions and virtual (drawn) humans are
    skipped. The same person (same image bytes, same box) listed again, in the same folder or
    another, is one person: a later file adds only the extra kinds and the mask the first lacked."""
    import cv2

    people: list[dict] = []
    seen: dict[tuple, dict | None] = {}  # None: listed, but skipped
    keys: dict[Path, str] = {}
    for folder in folders:
        source = folder.name
        files = sorted(folder.rglob("*.json")) + sorted(folder.rglob("*.npz"))
        for f in files:
            reader = _coco_people(f, folder) if f.suffix == ".json" else _npz_people(f, folder)
            for path, box, names, kp, vis_known, extra_pts, seg, others in reader:
                if path not in keys:
                    keys[path] = _image_key(path)
                key = (keys[path], tuple(round(float(v)) for v in box))
                shown = kp[:, 2] == 2 if vis_known else kp[:, 2] > 0
                vis = [(joint_of(n), x, y) for n, (x, y, _), s in zip(names, kp, shown) if joint_of(n) and s]
                extra = [(extra_of(n), x, y, v) for n, (x, y, v) in zip(names, kp) if extra_of(n)] + extra_pts
                extra = [(k, x, y) for k, x, y, v in extra if (v == 2 if vis_known else v > 0)]
                if key in seen:
                    if seen[key] is not None:
                        _merge(seen[key], extra, seg, source)
                    continue
                bgr = cv2.imread(str(path)) if len(vis) >= min_keypoints and box[3] >= min_height else None
                if bgr is None:
                    seen[key] = None
                    continue
                h, w = bgr.shape[:2]
                crop = Crop(bgr, box)
                mask, mask_kind = person_mask(seg, h, w), "annotated"
                if mask is None:
                    mask, mask_kind = _fitted_mask(folder, path, h, w), "fitted body model"
                person = {"name": f"{path.parent.name}/{path.stem}#{len(people)}", "source": source,
                          "rgb": crop.rgb, "crop": crop, "keypoints": [], "extra": [], "mask": None,
                          "mask_kind": None, "regions": None, "points": [], "vis_known": vis_known,
                          "others": None}
                if mask is not None:
                    person["mask"], person["mask_kind"] = crop.labels(mask).astype(bool), mask_kind
                other_masks = [m for m in (person_mask(o, h, w) for o in others) if m is not None]
                if other_masks and mask_kind == "annotated":
                    person["others"] = crop.labels(np.logical_or.reduce(other_masks)).astype(bool)
                person["keypoints"] = [(j, *xy) for j, x, y in vis if (xy := crop.point(x, y))]
                _merge(person, extra, None, source)
                seen[key] = person
                people.append(person)
    for p in people:
        del p["crop"]
    return people


def _merge(person: dict, extra: list, seg, source: str) -> None:
    """Add the extra points of kinds ``person`` has none of yet (and a mask it lacks)."""
    have = {k for k, *_ in person["extra"]}
    crop = person["crop"]
    person["extra"] += [(k, *xy, source) for k, x, y in extra if k not in have and (xy := crop.point(x, y))]
    if person["mask"] is None and seg:
        mask = person_mask(seg, crop.h, crop.w)
        if mask is not None:
            person["mask"], person["mask_kind"] = crop.labels(mask).astype(bool), "annotated"
