"""Third-party part labels, cut into re-ID-like crops at run time (for ``bench_parts.py``).

Two kinds were found in public sample folders (docs/part-quality.md): human-parsing label maps (LIP
in mmsegmentation's tests, CIHP in CIHP_PGN's ``datasets/``) and a DensePose-COCO point annotation
stored with its crop (the DensePose repository's demo data). Neither uses occreid's seven labels, so
each is mapped here (``_PARSING`` / ``REGION``, ``DENSEPOSE``), and the records are those of
``_gt_people`` with ``regions`` or ``points`` set.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from _gt_people import CROP_H, CROP_W, Crop

#: Human-parsing labels (LIP, CIHP: 20 classes) to coarse regions occreid's labels can be compared
#: with: 1 head (hat, hair, sunglasses, face), 2 upper body = torso + arms (gloves, upper clothes,
#: coat, scarf, arms; CIHP's torso skin), 3 legs (socks, pants, skirt, legs, shoes); 255 ignored
#: (a dress, LIP's jumpsuit: they span both upper body and legs). Background 0.
REGION = {"head": 1, "upper body": 2, "legs": 3}
_PARSING = {1: 1, 2: 1, 4: 1, 13: 1, 3: 2, 5: 2, 7: 2, 11: 2, 14: 2, 15: 2,
            8: 3, 9: 3, 12: 3, 16: 3, 17: 3, 18: 3, 19: 3, 6: 255}
#: occreid's labels as the same regions.
OCCREID_REGION = np.array([0, 1, 2, 2, 2, 3, 3], np.uint8)
#: DensePose's 24 fine parts to occreid's labels: torso, hands -> lower arm, feet -> lower leg,
#: upper / lower legs, upper / lower arms, head.
DENSEPOSE = {1: 2, 2: 2, 3: 4, 4: 4, 5: 6, 6: 6, 7: 5, 8: 5, 9: 5, 10: 5, 11: 6, 12: 6, 13: 6, 14: 6,
             15: 3, 16: 3, 17: 3, 18: 3, 19: 4, 20: 4, 21: 4, 22: 4, 23: 1, 24: 1}


def parsing_pairs(folder: Path) -> list[tuple[Path, Path, str]]:
    """(image, label map, flavour) for the parsing samples under ``folder``: mmsegmentation's LIP
    layouts (``*_images/`` beside ``*_segmentations/``, or ``images/`` beside ``annotations/``: one
    person per image) and CIHP's (``images/`` beside ``labels/``: several people per image, no
    instance ids)."""
    pairs = []
    for lab in sorted(folder.rglob("*.png")):
        d = lab.parent.name
        if d.endswith("_segmentations"):
            img_dir, flavour = lab.parent.with_name(d.replace("_segmentations", "_images")), "lip"
        elif d == "annotations":
            img_dir, flavour = lab.parent.with_name("images"), "lip"
        elif d == "labels":
            img_dir, flavour = lab.parent.with_name("images"), "cihp"
        else:
            continue
        img = next((p for p in (img_dir / f"{lab.stem}.jpg", img_dir / f"{lab.stem}.png") if p.is_file()), None)
        if img is not None:
            pairs.append((img, lab, flavour))
    return pairs


def parsed_people(folders: list[Path], min_height: int = 64) -> list[dict]:
    """A crop per person of the human-parsing samples under ``folders``, with ``regions`` (the
    label map as ``REGION`` codes, other people's pixels as background) and ``mask``. LIP's images
    are one person each; in CIHP's, a person is a connected piece of the labelled pixels holding
    exactly one face (pieces with several faces are people touching each other: skipped)."""
    import cv2

    people = []
    for folder in folders:
        for img, lab, flavour in parsing_pairs(folder):
            bgr, labels = cv2.imread(str(img)), cv2.imread(str(lab), cv2.IMREAD_GRAYSCALE)
            if bgr is None or labels is None or bgr.shape[:2] != labels.shape:
                continue
            table = np.zeros(256, np.uint8)
            for k, v in _PARSING.items():
                table[k] = v
            table[10] = 2 if flavour == "cihp" else 255  # CIHP: torso skin; LIP: jumpsuit
            fg = labels > 0
            if flavour == "lip":
                pieces = [fg]
            else:
                n, cc = cv2.connectedComponents(fg.astype(np.uint8))
                pieces = [cc == i for i in range(1, n) if _faces(labels, cc == i) == 1]
            for i, piece in enumerate(pieces):
                ys, xs = np.nonzero(piece)
                if len(ys) == 0 or ys.max() - ys.min() + 1 < min_height:
                    continue
                crop = Crop(bgr, [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
                regions = crop.labels(np.where(piece, table[labels], 0))
                people.append({"name": f"{img.parent.name}/{img.stem}#{i}", "source": folder.name, "rgb": crop.rgb,
                               "keypoints": [], "extra": [], "mask": crop.labels(piece).astype(bool),
                               "mask_kind": "annotated", "regions": regions, "points": [], "vis_known": True})
    return people


def _faces(labels: np.ndarray, piece: np.ndarray, min_px: int = 20) -> int:
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(((labels == 13) & piece).astype(np.uint8))
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_px).sum()) if n > 1 else 0


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (a pickle can name any callable)."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not an array")
        return super().find_class(module, name)


def densepose_people(folders: list[Path]) -> list[dict]:
    """DensePose-COCO point annotations stored with their crop (the DensePose repository's
    ``demo_dp_single_ann.pkl``: ``ICrop`` the person's box, ``x``, ``y`` in its pixels, ``I`` the
    part, 1-24). The crop is padded with black to 1:2 (its box is square) and each point keeps
    occreid's label of its part (``DENSEPOSE``)."""
    import cv2

    people = []
    for folder in folders:
        for f in sorted(folder.rglob("*.pkl")):
            try:
                with f.open("rb") as fh:
                    d = _ArraysOnly(fh, encoding="latin1").load()
            except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError):
                continue
            if not isinstance(d, dict) or not {"ICrop", "I", "x", "y"} <= set(d):
                continue
            im = np.asarray(d["ICrop"], np.uint8)
            h, w = im.shape[:2]
            ch, cw = max(h, 2 * w), max(w, (h + 1) // 2)
            canvas = np.zeros((ch, cw, 3), np.uint8)
            ox, oy = (cw - w) // 2, (ch - h) // 2
            canvas[oy : oy + h, ox : ox + w] = im
            sx, sy = CROP_W / cw, CROP_H / ch
            rgb = cv2.resize(canvas, (CROP_W, CROP_H), interpolation=cv2.INTER_AREA)
            points = [(DENSEPOSE[int(i)], (x + ox) * sx, (y + oy) * sy)
                      for i, x, y in zip(d["I"], d["x"], d["y"]) if int(i) in DENSEPOSE]
            people.append({"name": f"{f.parent.name}/{f.stem}", "source": folder.name, "rgb": rgb, "keypoints": [],
                           "extra": [], "mask": None, "mask_kind": None, "regions": None, "points": points,
                           "vis_known": True})
    return people


#: Pascal-Part's person parts to occreid's labels, as Pascal-Person-Part merges them: the face's
#: parts and the hair into the head, hands into the lower arms, feet into the lower legs. The neck
#: (head in some merges, torso in others) is ignored (255).
PASCAL_PART = {"head": 1, "hair": 1, "leye": 1, "reye": 1, "lear": 1, "rear": 1, "lebrow": 1, "rebrow": 1,
               "nose": 1, "mouth": 1, "torso": 2, "neck": 255, "luarm": 3, "ruarm": 3, "llarm": 4, "rlarm": 4,
               "lhand": 4, "rhand": 4, "luleg": 5, "ruleg": 5, "llleg": 6, "rlleg": 6, "lfoot": 6, "rfoot": 6}


def pascal_part_people(folders: list[Path], min_height: int = 64) -> list[dict]:
    """A crop per person of Pascal-Part's annotations (``<image>.mat`` beside ``<image>.jpg``, as in
    the dataset's ``examples/``), with ``parts`` in occreid's labels (``PASCAL_PART``; pixels of the
    person in no part, and the neck, are 255: ignored) and ``mask`` the person's instance mask.
    People without part annotations or lower than ``min_height`` px are skipped."""
    import cv2
    from scipy.io import loadmat

    people = []
    for folder in folders:
        for f in sorted(folder.rglob("*.mat")):
            img = f.with_suffix(".jpg")
            try:
                anno = loadmat(str(f))["anno"][0, 0] if img.is_file() else None
            except (OSError, KeyError, IndexError, ValueError, TypeError):
                continue
            bgr = cv2.imread(str(img)) if anno is not None else None
            if bgr is None:
                continue
            for i, obj in enumerate(anno["objects"][0]):
                mask = np.asarray(obj["mask"]) > 0
                ys, xs = np.nonzero(mask)
                if str(obj["class"][0]) != "person" or not obj["parts"].size or mask.shape != bgr.shape[:2] or \
                        ys.max() - ys.min() + 1 < min_height:
                    continue
                parts = np.where(mask, 255, 0).astype(np.uint8)
                for part in obj["parts"][0]:
                    label = PASCAL_PART.get(str(part["part_name"][0]))
                    if label is not None:
                        parts[(np.asarray(part["mask"]) > 0) & mask] = label
                crop = Crop(bgr, [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
                people.append({"name": f"{img.stem}#{i}", "source": folder.name, "rgb": crop.rgb, "keypoints": [],
                               "extra": [], "mask": crop.labels(mask).astype(bool), "mask_kind": "annotated",
                               "regions": None, "parts": crop.labels(parts), "points": [], "vis_known": True})
    return people
