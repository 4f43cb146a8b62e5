"""BPBReID's ``pifpaf`` part fields made from occreid's part maps and keypoints, as pure NumPy.

BPBReID's released labels are 36 PifPaf confidence fields per image (``masks_dirs['pifpaf'] = (36,
False, '.jpg.confidence_fields.npy')`` for Market-1501, DukeMTMC-reID, Occluded-Duke, P-DukeMTMC;
Occluded-REID's suffix is ``.tif.confidence_fields.npy``): 17 keypoint fields (PIF, COCO order) then
19 limb fields (PAF, ``PIFPAF_JOINTS`` order); its ``masks.preprocess`` groupings (``five_v``,
``eight``, ``four``...) take the maximum of named fields into parts. Written in this format, occreid's
labels work with their configs unchanged. Each field here is binary (1 on its pixels):

- a keypoint field: the person's pixels within ``radius`` of that COCO keypoint, when it is seen;
- a limb field: the pixels of occreid's part for that limb (upper arms for shoulder-to-elbow, lower
  legs for ankle-to-knee...), on the limb's side: a pixel of a part goes to the nearer of the left
  and right limb segments (both, when neither limb's keypoints are seen); the torso's limbs split it
  into left and right (shoulder-to-hip), its upper half (shoulder-to-shoulder) and the band near the
  hips (hip-to-hip); the head's limbs are all the head.
"""

from __future__ import annotations

import numpy as np

from .formats import COCO17, KPR_VIS_THRESH

#: PifPaf's 19 limb fields, in PifPaf's (and BPBReID's ``PIFPAF_JOINTS``) order.
PIFPAF_JOINTS: tuple[str, ...] = (
    "left_ankle_to_left_knee", "left_knee_to_left_hip", "right_ankle_to_right_knee", "right_knee_to_right_hip",
    "left_hip_to_right_hip", "left_shoulder_to_left_hip", "right_shoulder_to_right_hip",
    "left_shoulder_to_right_shoulder", "left_shoulder_to_left_elbow", "right_shoulder_to_right_elbow",
    "left_elbow_to_left_wrist", "right_elbow_to_right_wrist", "left_eye_to_right_eye", "nose_to_left_eye",
    "nose_to_right_eye", "left_eye_to_left_ear", "right_eye_to_right_ear", "left_ear_to_left_shoulder",
    "right_ear_to_right_shoulder",
)
PIFPAF_FIELDS: tuple[str, ...] = COCO17 + PIFPAF_JOINTS
#: Limb -> the occreid label whose pixels it takes (left / right limbs split that part between them).
LIMB_LABEL = {
    "ankle_to_knee": 6, "knee_to_hip": 5, "shoulder_to_elbow": 3, "elbow_to_wrist": 4, "shoulder_to_hip": 2,
}
_HEAD_JOINTS = frozenset(PIFPAF_JOINTS[12:])


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each (x, y) point to the segment a-b."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _sides(region: np.ndarray, kps: np.ndarray, limb: str) -> tuple[np.ndarray, np.ndarray]:
    """A part's pixels split between its left and right limbs (``limb`` such as ``knee_to_hip``)."""
    first, second = limb.split("_to_")
    seen = kps[:, 2] > KPR_VIS_THRESH
    segments = {}
    for side in ("left", "right"):
        i, j = COCO17.index(f"{side}_{first}"), COCO17.index(f"{side}_{second}")
        if seen[i] or seen[j]:
            a = kps[i, :2] if seen[i] else kps[j, :2]
            b = kps[j, :2] if seen[j] else a
            segments[side] = (a, b)
    if not segments:
        return region, region
    if len(segments) == 1:
        only = next(iter(segments))
        empty = np.zeros_like(region)
        return (region, empty) if only == "left" else (empty, region)
    rows, cols = np.nonzero(region)
    points = np.stack([cols + 0.5, rows + 0.5], axis=1)
    d_left = _segment_distance(points, *segments["left"])
    d_right = _segment_distance(points, *segments["right"])
    left, right = np.zeros_like(region), np.zeros_like(region)
    nearer = d_left <= d_right
    left[rows[nearer], cols[nearer]] = True
    right[rows[~nearer], cols[~nearer]] = True
    return left, right


def pifpaf_fields(part_map: np.ndarray | None, keypoints: np.ndarray | None, shape: tuple[int, int],
                  covered: np.ndarray | None = None, radius: float | None = None) -> np.ndarray:
    """The 36 fields of one image at full size: float32 ``(36, H, W)`` in {0, 1}, ``PIFPAF_FIELDS``
    order. ``keypoints``: COCO-17 ``(17, 3)`` from ``formats.coco17`` (covered ones already zero), or
    None; pixels under the occluder (``covered``) are in no field. ``radius`` of a keypoint's disc:
    default 6 % of the image's height, at least 2 pixels."""
    h, w = shape
    labels = np.zeros((h, w), np.uint8) if part_map is None else np.asarray(part_map, np.uint8)
    if covered is not None:
        labels = np.where(covered, np.uint8(0), labels)
    kps = np.zeros((17, 3)) if keypoints is None else np.asarray(keypoints, np.float64)
    fields = np.zeros((len(PIFPAF_FIELDS), h, w), np.float32)
    person = labels != 0
    if not person.any():
        return fields
    r = max(2.0, 0.06 * h) if radius is None else float(radius)
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(17):
        if kps[k, 2] > KPR_VIS_THRESH:
            disc = (xx + 0.5 - kps[k, 0]) ** 2 + (yy + 0.5 - kps[k, 1]) ** 2 <= r * r
            fields[k] = disc & person
    torso = labels == 2
    for j, joint in enumerate(PIFPAF_JOINTS):
        out = fields[17 + j]
        if joint in _HEAD_JOINTS:
            out[labels == 1] = 1
            continue
        a, b = joint.split("_to_")
        side_a, name_a = a.split("_", 1)
        side_b, name_b = b.split("_", 1)
        if side_a != side_b:  # across the body: the torso's band at the hips, or its upper half
            rows = np.nonzero(torso.any(axis=1))[0]
            if rows.size:
                top, bottom = rows[0], rows[-1] + 1
                band = np.zeros_like(torso)
                if name_a == "hip":
                    band[bottom - max(1, (bottom - top) // 5):bottom] = True
                else:
                    band[top:top + max(1, (bottom - top) // 2)] = True
                out[torso & band] = 1
            continue
        limb = f"{name_a}_to_{name_b}"
        left, right = _sides(labels == LIMB_LABEL[limb], kps, limb)
        out[left if side_a == "left" else right] = 1
    return fields


__all__ = ["LIMB_LABEL", "PIFPAF_FIELDS", "PIFPAF_JOINTS", "pifpaf_fields"]
