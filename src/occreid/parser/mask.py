"""The person mask of a part map: person-mask pixels next to the body that the distance cut-off dropped.

``pose_geometry.part_map`` labels a person-mask pixel only when it lies within ``max_distance``
(2.5) capsule radii of the skeleton, so that a second person, a bag or a bicycle in the same mask
stays background. Measured against 36 annotated person masks (docs/part-quality.md, "Sixth round:
the person mask"), that cut-off is where the map loses most against its own segmentation: the
segmentation alone scores a median IoU of 0.792, the map 0.760. What it drops is mostly the
person's own body where the capsules are too thin for it: a close-up's shoulders and chest, a
baby's body, a coat, loose hair, a seated person's lap.

``readmit`` (``grow``) gives those pixels back, and only those: the person-mask pixels outside the map that
lie in a connected piece of the mask the map is part of, and within ``reach`` pixels of the map
(a quarter of the torso length by default, ``torso_length``), each taking the label of the nearest
map pixel. Another person who merely shares the mask's blob is reached no further than that; a
person standing apart is not reached at all. Median IoU 0.760 -> 0.791 on the 36 masks (0.791 ->
0.806 on the first 17); keypoints on the right part cannot get worse (no pixel of the map changes
its label, pixels are only added).

Tried and not kept (offline, same 36 masks; the figures are in the docs): edge-aware refinement of
the segmentation with the image (a guided filter, a joint bilateral filter, GrabCut on a band at
the mask's outline), other mask thresholds, MediaPipe's selfie segmentation fused with the pose
mask, and the pose model run again on the mirrored crop: none reaches the 0.88 target, and the
boundary filters gain nothing at 1.5-50 ms a crop. The annotated outlines and the segmentation
disagree mostly over whole regions (other people, limbs, busts), not by a pixel or two around
the outline.

Pure NumPy / OpenCV; the map and the mask are at the mask's size.
"""

from __future__ import annotations

import cv2
import numpy as np

#: MediaPipe Pose's shoulders and hips (the torso length's ends).
SHOULDERS, HIPS = (11, 12), (23, 24)
#: ``readmit``'s default reach, as a share of the torso length.
REACH = 0.25


def torso_length(landmarks: np.ndarray) -> float:
    """The distance from the shoulders' midpoint to the hips' midpoint (33 x >= 2 landmarks, px);
    0 when a landmark is not finite."""
    lm = np.asarray(landmarks, dtype=np.float64)
    shoulders = lm[list(SHOULDERS), :2].mean(axis=0)
    hips = lm[list(HIPS), :2].mean(axis=0)
    d = float(np.hypot(*(shoulders - hips)))
    return d if np.isfinite(d) else 0.0


def readmit(parts: np.ndarray, person: np.ndarray, landmarks: np.ndarray, share: float = REACH) -> np.ndarray:
    """``grow`` with a reach of ``share`` x the skeleton's torso length (``landmarks``: 33 x >= 2, in
    the mask's pixels): the map with the person-mask pixels next to the body given back."""
    return grow(parts, person, share * torso_length(landmarks))


def grow(parts: np.ndarray, person: np.ndarray, reach: float) -> np.ndarray:
    """The part map with the person-mask pixels next to it given back (see the module docstring).

    Args:
        parts: H x W uint8 part map (0 background, labels 1-6).
        person: H x W boolean person mask (the segmentation over its threshold).
        reach: the farthest a pixel may lie from the map, in pixels (<= 0: the map unchanged).

    Returns:
        A new map when pixels were added, else ``parts`` itself: every added pixel is a person-mask
        pixel outside the map, in a connected piece (8-neighbours) of mask and map that holds map
        pixels, within ``reach`` px of the nearest map pixel, whose label it takes.
    """
    parts = np.asarray(parts)
    person = np.asarray(person, dtype=bool)
    if parts.shape != person.shape:
        raise ValueError(f"parts {parts.shape} and person mask {person.shape} differ in size")
    body = parts > 0
    dropped = person & ~body
    if not reach > 0 or not dropped.any() or not body.any():
        return parts
    n, pieces = cv2.connectedComponents((person | body).astype(np.uint8), connectivity=8)
    if n == 2:  # one piece, and the map is in it
        add = dropped
    else:
        touched = np.zeros(n, dtype=bool)
        touched[pieces[body]] = True
        touched[0] = False
        add = dropped & touched[pieces]
    if not add.any():
        return parts
    # Distance to, and index of, the nearest map pixel (the zero pixels of the transform's input).
    dist, nearest = cv2.distanceTransformWithLabels((~body).astype(np.uint8), cv2.DIST_L2, 3,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    add &= dist <= reach
    if not add.any():
        return parts
    label_of = np.zeros(int(nearest.max()) + 1, dtype=parts.dtype)
    label_of[nearest[body]] = parts[body]
    out = parts.copy()
    out[add] = label_of[nearest[add]]
    return out
