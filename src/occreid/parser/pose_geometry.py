"""Pose landmarks + person mask -> 7-label Pascal-Person-Part map, in NumPy (OpenCV lists the mask's pixels).

The embedded parsers (``occreid.parser.direct``, default, and ``occreid.parser.mediapipe``) get 33
MediaPipe Pose landmarks and a float person mask (or its logits, with the threshold given as a
logit); this module turns them into a part map without importing MediaPipe, so it can be
tested on synthetic skeletons.

Method: the body model (``body_model.body_capsules``) is a set of capsules, each a bone segment
with a radius scaled by the torso length. Each person-mask pixel (mask > threshold) gets the label
of the capsule with the smallest *normalised* distance (distance / radius); pixels farther than
``max_distance`` radii from every capsule are background. Arms in front of the body win over the
torso and thighs they cover; an upper arm and its lower arm (a thigh and its lower leg) meet at the
plane bisecting the elbow's (knee's) angle. Boundaries are therefore geometric, not clothing
edges: good enough to choose and shape an occluder, not a parsing benchmark.

``sanity_check`` and ``describe`` judge whether a skeleton is a plausible pedestrian, and say why not.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .body_model import (
    FACE,
    HEAD,
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_SHOULDER,
    LOWER_ARMS,
    LOWER_LEGS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    TORSO,
    UPPER_ARMS,
    UPPER_LEGS,
    BodyOptions,
    body_capsules,
    check_landmarks,
    joints,
    midpoint,
    polygon_distance2,
    segment_distance2,
)

__all__ = ["HEAD", "LOWER_ARMS", "LOWER_LEGS", "TORSO", "UPPER_ARMS", "UPPER_LEGS", "BodyOptions", "body_capsules",
           "describe", "part_map", "sanity_check"]

def part_map(
    landmarks: np.ndarray,
    mask: np.ndarray,
    *,
    mask_threshold: float = 0.5,
    max_distance: float = 2.5,
    limb_threshold: float | None = None,
    arms_in_front: bool = True,
    front_reach: float = 1.5,
    joint_planes: bool = True,
    **body: Any,
) -> np.ndarray:
    """Label each person-mask pixel with its nearest body capsule.

    Args:
        landmarks: (33, 3) MediaPipe landmarks, x and y in pixels of ``mask``, then visibility.
        mask: H x W float person mask (MediaPipe's segmentation, 0..1).
        mask_threshold: a pixel is "person" when ``mask > mask_threshold``.
        max_distance: person pixels farther than this many radii from every capsule are
            background (a second person, a bag, a bicycle).
        limb_threshold: a lower threshold for the ends of the limbs: pixels with ``mask >
            limb_threshold`` inside a lower arm's (hand included) or lower leg's (foot included)
            capsule are person too (the segmentation is blurred across a thin forearm or shin and
            often drops hands and feet); None: ``mask_threshold``.
        arms_in_front, front_reach: pixels within ``front_reach`` radii of an arm's bone are
            arm even where the torso or a thigh is as near (an arm in front of the body hides it,
            and Pascal-Person-Part labels what is seen; a forearm is wider than its capsule's
            radius), and pixels inside the head's capsule are head, not torso.
        joint_planes: the upper and lower arm (thigh and lower leg) meet at the plane bisecting
            the elbow's (knee's) angle (``body_model.joints``), not where the nearer capsule
            ends: the upper arm's and thigh's wider capsules would otherwise swell past the joint.
        body: the body model's settings (``body_model.BodyOptions``: ``min_visibility``,
            ``radii``, ``arm_visibility``, ``leg_mask_support``, ``max_knee_rise`` ...), or
            ``options=BodyOptions(...)``.

    Returns:
        H x W uint8 map, 0 background, 1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs,
        6 lower legs.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {mask.shape}")
    out = np.zeros(mask.shape, dtype=np.uint8)
    weak_cut = mask_threshold if limb_threshold is None else min(limb_threshold, mask_threshold)
    pixels = cv2.findNonZero((mask > weak_cut).view(np.uint8))  # x, y in row order, as np.nonzero
    if pixels is None:
        return out
    xs, ys = pixels[:, 0, 0], pixels[:, 0, 1]
    strong = mask[ys, xs] > mask_threshold
    caps = body_capsules(landmarks, mask=mask, mask_threshold=mask_threshold, **body)
    if not caps:
        return out
    px, py = xs.astype(np.float32) + 0.5, ys.astype(np.float32) + 0.5
    best = np.full(px.shape, np.inf, dtype=np.float32)  # squared normalised distance
    which = np.zeros(px.shape, dtype=np.int16)  # the nearest capsule
    arm = np.full(px.shape, np.inf, dtype=np.float32)  # the same, to the nearest arm capsule
    arm_which = np.zeros(px.shape, dtype=np.int16)
    end = np.zeros(px.shape, dtype=bool)  # inside a lower arm's or lower leg's capsule
    head = np.full(px.shape, np.inf, dtype=np.float32)
    # Every decision below compares a normalised distance with at most ``reach`` (the cut-off, the
    # arms' reach, a capsule's own radius): a capsule is measured only on the rows it can reach
    # (the pixels are in row order, so those are one slice), and farther pixels keep infinity.
    reach = max(max_distance, front_reach if arms_in_front else 0.0, 1.0)
    row_start = np.searchsorted(ys, np.arange(mask.shape[0] + 1)).tolist()  # row r's first pixel
    spans = []  # each capsule's slice: no pixel outside it is nearest to the capsule
    for k, (lab, kind, pts, rad) in enumerate(caps):
        s, e = _row_span(row_start, pts, reach * rad)
        spans.append((0, len(ys)) if k == 0 else (s, e))  # (every pixel starts at capsule 0)
        if s >= e:
            continue
        if kind == "polygon":
            d2 = polygon_distance2(px[s:e], py[s:e], pts)
        else:
            d2 = segment_distance2(px[s:e], py[s:e], pts[0], pts[1], flat_start=kind == "limb")
        d2 *= np.float32(1.0 / max(rad, 1e-6) ** 2)
        closer = d2 < best[s:e]
        np.copyto(best[s:e], d2, where=closer)
        np.copyto(which[s:e], np.int16(k), where=closer)
        if lab in (UPPER_ARMS, LOWER_ARMS):
            nearer = d2 < arm[s:e]
            np.copyto(arm[s:e], d2, where=nearer)
            np.copyto(arm_which[s:e], np.int16(k), where=nearer)
        if lab in (LOWER_ARMS, LOWER_LEGS):
            end[s:e] |= d2 <= 1.0
        if lab == HEAD:
            head[s:e] = d2
    labels = np.array([c[0] for c in caps], dtype=np.uint8)
    label = labels[which]
    if arms_in_front:
        front = (arm <= np.float32(front_reach * front_reach)) & ((label == TORSO) | (label == UPPER_LEGS))
        which[front] = arm_which[front]
        label[front] = labels[arm_which[front]]
        label[(head <= 1.0) & (label == TORSO)] = HEAD
    found = joints(caps) if joint_planes else []
    if found:
        # Each joint's two capsules' pixels: on the far side of its plane lower, else upper (float32, as
        # the distances); a capsule in two joints (elbows at one point) takes the later's plane.
        for upper, lower, joint, normal in found:
            s, e = min(spans[upper][0], spans[lower][0]), max(spans[upper][1], spans[lower][1])
            near = which[s:e]
            on = np.flatnonzero((near == upper) | (near == lower))
            if len(on) == 0:
                continue
            on += s
            side = (px[on] - np.float32(joint[0])) * np.float32(normal[0])
            side += (py[on] - np.float32(joint[1])) * np.float32(normal[1])
            upper_label = labels[upper]
            label[on] = np.where(side > 0, upper_label + np.uint8(1), upper_label)  # lower = upper + 1
    label[best > np.float32(max_distance * max_distance)] = 0
    label[~strong & ~(end & ((label == LOWER_ARMS) | (label == LOWER_LEGS)))] = 0
    out[ys, xs] = label
    return out


def _row_span(row_start: list[int], pts: np.ndarray, reach: float) -> tuple[int, int]:
    """The slice of the row-ordered pixels (``row_start[r]``: row r's first) on the rows within
    ``reach`` px (and 2 px to spare for rounding) of the rows ``pts`` spans: no pixel outside it
    lies within ``reach`` of ``pts``."""
    rows = pts[:, 1].tolist()
    lo, hi = min(rows) - reach - 2.0, max(rows) + reach + 2.0
    last = len(row_start) - 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0, row_start[last]
    return row_start[min(last, max(0, math.floor(lo)))], row_start[min(last, max(0, math.ceil(hi) + 1))]


def sanity_check(
    landmarks: np.ndarray | None,
    mask: np.ndarray | None,
    height: int,
    width: int,
    *,
    mask_threshold: float = 0.5,
    min_mask_fraction: float = 0.05,
    min_uprightness: float = 0.8,
    min_torso: float = 0.07,
    max_torso: float = 0.7,
    min_span: float = 0.18,
    min_core_support: float = 0.5,
) -> str | None:
    """Is this a plausible pedestrian? Returns the reason it is not, or None when it is.

    The defaults were tuned on real re-ID crops (MARS/PRCC/LTCC 128x256, Market-1501 64x128),
    where pedestrians as small as a third of the crop height occur, against crops without an
    upright person (scenery, shuffled tiles, upside-down people). Checks, in order:

    - landmarks and a mask exist and ``mask > mask_threshold`` covers at least
      ``min_mask_fraction`` of the image, else "no person";
    - the shoulders are above the hips, else "skeleton implausible: shoulders below hips";
    - the body is upright: (hip y - shoulder y) / torso length >= ``min_uprightness`` (0.8 is
      about 37 degrees from vertical), else "skeleton implausible: not upright";
    - the torso (shoulder midpoint to hip midpoint) is at least ``min_torso`` and at most
      ``max_torso`` of the height, else "person too small" / "skeleton implausible: torso too long";
    - the vertical span from the highest face landmark to the lowest ankle is at least ``min_span``
      of the height, else "person too small" (MediaPipe extrapolates the ankles of legs cut off by
      the crop below the image, so such crops pass), or "skeleton implausible: ankles above the
      hips" when the lower ankle is above the hips' midpoint (a folded or misplaced skeleton);
    - at least ``min_core_support`` of points along the shoulder-hip axis lie on the mask, else
      "skeleton off the person mask".
    """
    if landmarks is None or mask is None:
        return "no person"
    lm = check_landmarks(landmarks)
    if not np.all(np.isfinite(lm)):
        return "no person"
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        raise ValueError(f"mask shape {mask.shape} does not match {(height, width)}")
    if height <= 0 or width <= 0 or np.count_nonzero(mask > mask_threshold) / mask.size < min_mask_fraction:
        return "no person"
    xy = lm[:, :2]
    sh_mid, hip_mid = midpoint(lm, LEFT_SHOULDER, RIGHT_SHOULDER), midpoint(lm, LEFT_HIP, RIGHT_HIP)
    if sh_mid[1] >= hip_mid[1]:
        return "skeleton implausible: shoulders below hips"
    tl = float(np.linalg.norm(sh_mid - hip_mid))
    if (hip_mid[1] - sh_mid[1]) < min_uprightness * tl:
        return "skeleton implausible: not upright"
    if tl < min_torso * height:
        return "person too small"
    if tl > max_torso * height:
        return "skeleton implausible: torso too long"
    top = float(xy[list(FACE), 1].min())
    bottom = float(max(xy[LEFT_ANKLE, 1], xy[RIGHT_ANKLE, 1]))
    if bottom - top < min_span * height:
        # a short span with the ankles above the hips is a folded or misplaced skeleton, not a small person
        return "skeleton implausible: ankles above the hips" if bottom < hip_mid[1] else "person too small"
    t = np.linspace(0.0, 1.0, 11)
    pts = sh_mid[None, :] + t[:, None] * (hip_mid - sh_mid)[None, :]
    x, y = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
    ok = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    on = np.zeros(len(t), dtype=bool)
    on[ok] = mask[y[ok], x[ok]] > mask_threshold
    if on.mean() < min_core_support:
        return "skeleton off the person mask"
    return None


def describe(reason: str, landmarks: np.ndarray, mask: np.ndarray, *, mask_threshold: float = 0.5) -> str:
    """``reason`` (one of ``sanity_check``'s) with the numbers that made it: the torso length and
    the face-to-ankle span in pixels of ``mask``, the uprightness, the share of the shoulder-hip
    axis on the person mask, so a user sees by how much a person failed."""
    lm = check_landmarks(landmarks)
    if not np.all(np.isfinite(lm)):
        return reason
    h, w = np.asarray(mask).shape
    if reason == "no person":
        share = float(np.mean(np.asarray(mask) > mask_threshold))
        return f"no person: the person mask covers {100 * share:.1f} % of the crop"
    sh_mid, hip_mid = midpoint(lm, LEFT_SHOULDER, RIGHT_SHOULDER), midpoint(lm, LEFT_HIP, RIGHT_HIP)
    tl = float(np.linalg.norm(sh_mid - hip_mid))
    if reason == "skeleton implausible: ankles above the hips":
        ankles = float(max(lm[LEFT_ANKLE, 1], lm[RIGHT_ANKLE, 1]))
        return f"{reason} (the lower ankle {hip_mid[1] - ankles:.0f} px above them, torso {tl:.0f} px)"
    if reason.startswith("skeleton implausible"):
        tilt = float(np.degrees(np.arccos(np.clip((hip_mid[1] - sh_mid[1]) / max(tl, 1e-6), -1, 1))))
        return f"{reason} (torso tilted {tilt:.0f} degrees, {tl:.0f} px long in a {h} px high crop)"
    if reason == "person too small":
        span = float(max(lm[LEFT_ANKLE, 1], lm[RIGHT_ANKLE, 1]) - lm[list(FACE), 1].min())
        reach = f", head to ankles {span:.0f} px" if span > 0 else ""
        return f"{reason} (torso {tl:.0f} px{reach} in a {h} px high crop)"
    if reason == "skeleton off the person mask":
        t = np.linspace(0.0, 1.0, 11)
        pts = sh_mid[None, :] + t[:, None] * (hip_mid - sh_mid)[None, :]
        x, y = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        on = np.zeros(len(t), dtype=bool)
        on[ok] = np.asarray(mask)[y[ok], x[ok]] > mask_threshold
        return f"{reason} (only {100 * on.mean():.0f} % of the shoulder-to-hip line on it)"
    return reason
