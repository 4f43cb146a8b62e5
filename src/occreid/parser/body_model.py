"""The body model of the embedded parser: MediaPipe Pose landmarks -> capsules, in pure NumPy.

The body is a set of "capsules", each a bone segment with a radius scaled by the torso length
(torso = the shoulder-hip quadrilateral with a margin; head = a short vertical capsule around the
ears sized by the ear-to-ear and shoulder distances). ``pose_geometry.part_map`` labels each
person-mask pixel with its nearest capsule, normalised by the capsule's radius.

Pascal-Person-Part's limbs run to their ends: the lower arm from the elbow through the hand, the
lower leg from the knee through the foot; the upper/lower boundaries are at the elbows and knees
(``joints``: the plane bisecting each joint's angle).

Landmarks are an array ``(33, 3)``: x and y in pixels of the image the mask belongs to (they may lie
outside it) and MediaPipe's visibility in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

# MediaPipe Pose landmark indices.
NOSE = 0
LEFT_EYE, RIGHT_EYE = 2, 5
LEFT_EAR, RIGHT_EAR = 7, 8
MOUTH_LEFT, MOUTH_RIGHT = 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY = 17, 18
LEFT_INDEX, RIGHT_INDEX = 19, 20
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
LEFT_HEEL, RIGHT_HEEL = 29, 30
LEFT_FOOT, RIGHT_FOOT = 31, 32
NUM_LANDMARKS = 33
FACE = tuple(range(0, 11))

HEAD, TORSO, UPPER_ARMS, LOWER_ARMS, UPPER_LEGS, LOWER_LEGS = 1, 2, 3, 4, 5, 6

#: Default capsule radii, as fractions of the torso length (shoulder midpoint to hip midpoint).
DEFAULT_RADII: dict[str, float] = {
    "torso": 0.08,  # margin around the shoulder-hip quadrilateral in a front view (side: +0.15)
    "upper_arm": 0.14,
    "lower_arm": 0.12,
    "hand": 0.12,
    "upper_leg": 0.20,
    "lower_leg": 0.16,
    "foot": 0.14,
}


#: One capsule of the body model: (label, kind, points, radius in px), see ``body_capsules``.
Capsule = tuple[int, str, np.ndarray, float]


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The landmarks as a (33, 3) float64 array; ValueError for any other shape."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape (33, 3), got {lm.shape}")
    return lm


def midpoint(lm: np.ndarray, a: int, b: int) -> np.ndarray:
    """The midpoint (x, y) of landmarks ``a`` and ``b``."""
    return (lm[a, :2] + lm[b, :2]) / 2.0


def segment_distance2(
    px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray, flat_start: bool = False
) -> np.ndarray:
    """Squared distance of points (px, py) to the segment a-b (float32 in, float32 out).

    With ``flat_start`` the capsule is cut square at ``a``: points behind ``a`` (projecting before
    it on the bone) are at infinite distance, so a thigh does not grow above the hip line.
    """
    ax, ay = np.float32(a[0]), np.float32(a[1])
    dx, dy = np.float32(b[0] - a[0]), np.float32(b[1] - a[1])
    den = float(dx) * float(dx) + float(dy) * float(dy)
    rx = px - ax
    ry = py - ay
    if den < 1e-12:
        return rx * rx + ry * ry
    t = rx * (dx / np.float32(den))
    t += ry * (dy / np.float32(den))
    behind = t < 0 if flat_start else None
    np.maximum(t, 0.0, out=t)
    np.minimum(t, 1.0, out=t)
    rx -= t * dx
    ry -= t * dy
    rx *= rx
    ry *= ry
    rx += ry
    if behind is not None:
        rx[behind] = np.inf
    return rx


def polygon_distance2(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Squared distance of points to a closed polygon's area: 0 inside (even-odd rule of a
    horizontal ray), else to the nearest edge."""
    n = len(poly)
    dist = np.full(px.shape, np.inf, dtype=np.float32)
    inside = np.zeros(px.shape, dtype=bool)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        d2 = segment_distance2(px, py, a, b)
        np.minimum(dist, d2, out=dist)
        if a[1] != b[1]:
            lo, hi = (a[1], b[1]) if a[1] < b[1] else (b[1], a[1])
            x_at = (py - np.float32(a[1])) * np.float32((b[0] - a[0]) / (b[1] - a[1])) + np.float32(a[0])
            inside ^= (py >= lo) & (py < hi) & (px < x_at)
    dist[inside] = 0.0
    return dist


@dataclass(frozen=True)
class BodyOptions:
    """The body model's settings, in one place (``body_capsules`` and ``pose_geometry.part_map``
    take them as keyword arguments and build this). Lengths are fractions of the torso length.

    ``min_visibility``: a limb bone is kept when both its landmarks are at least this visible
    (arms: ``arm_visibility`` when set). ``radii``: overrides of ``DEFAULT_RADII``.
    ``head_scale``, ``head_min``, ``head_max``: the head's radius. ``leg_mask_support``: a less
    visible leg bone is kept when this share of it lies on the person mask (None: never).
    ``shoulder_inset``, ``hip_outset``: the torso quadrilateral's corners. ``hand_reach``: the lower
    arm's end past the wrist, in wrist-to-knuckles vectors. ``max_knee_rise``, ``cut_width``: legs
    the picture does not show (None: no check). See ``body_capsules`` for each rule.
    """

    min_visibility: float = 0.25
    radii: Mapping[str, float] | None = None
    head_scale: float = 0.62
    head_min: float = 0.16
    head_max: float = 0.32
    leg_mask_support: float | None = 0.6
    shoulder_inset: float = 0.15
    hip_outset: float = 0.25
    hand_reach: float = 1.3
    arm_visibility: float | None = None
    max_knee_rise: float | None = 0.25
    cut_width: float | None = 0.75


def body_capsules(
    landmarks: np.ndarray,
    options: BodyOptions | None = None,
    *,
    mask: np.ndarray | None = None,
    mask_threshold: float = 0.5,
    **settings: Any,
) -> list[Capsule]:
    """The body model: a list of ``(label, kind, points, radius_px)``, with ``options`` (default
    ``BodyOptions()``) and any of its fields given as keyword arguments (``settings``) over them.

    ``kind`` is ``"segment"`` (points: 2 x 2, the bone's ends), ``"limb"`` (the same, cut square at
    the proximal joint: upper arms and thighs) or ``"polygon"`` (points: k x 2, the torso
    quadrilateral, distance 0 inside). A limb bone is kept when both its landmarks have
    visibility >= ``min_visibility``; with a ``mask`` and ``leg_mask_support`` set, a leg bone whose
    landmarks are less visible is still kept when at least that fraction of points sampled along it
    lie on the person mask inside the image (MediaPipe gives low visibilities to ankles and knees
    of small pedestrians that are plainly there). Arms get no such rescue: a low-visibility arm is
    often drawn across the back in back views. The head radius is ``head_scale`` times the
    ear-to-ear distance (or 0.5x the shoulder width when larger), clipped to
    [``head_min``, ``head_max``] x torso length. The torso quadrilateral's shoulder corners are
    pulled in by ``shoulder_inset`` of the shoulder width, its hip corners pushed out by
    ``hip_outset`` of the hip width. ``radii`` overrides ``DEFAULT_RADII``.

    The lower arm runs through the hand (``hand_reach`` x the wrist-to-knuckles vector, or 0.4 of
    the forearm beyond the wrist when the knuckles are not seen); the lower leg through the foot
    (heel to toes). A forearm is drawn only with its upper arm: a forearm whose elbow the model
    calls hidden is, in side views, mostly the far arm behind the body.

    Legs the picture does not show are not drawn. MediaPipe always returns a whole skeleton: on a
    head-and-shoulders or upper-body crop it squeezes hips, knees and ankles into the torso's
    pixels, often folding the thighs up, and the mask there (the torso's clothes) would rescue
    them. So a thigh whose knee lies more than ``max_knee_rise`` x the torso length above its hip
    (a pedestrian's knees are below the hips) is dropped with its lower leg (None: no check), and
    the mask-support rescue needs the bone's far landmark inside the mask's image and is refused
    when the person mask crosses the picture's bottom edge wider than ``cut_width`` x the torso
    length (a torso cut off by the edge; feet standing on it are narrower): the mask under such
    "legs" is the torso's (None: no check).
    """
    o = replace(options, **settings) if options is not None else BodyOptions(**settings)
    lm = check_landmarks(landmarks)
    r = dict(DEFAULT_RADII)
    if o.radii:
        unknown = set(o.radii) - set(r)
        if unknown:
            raise ValueError(f"unknown radius names: {sorted(unknown)}")
        r.update(o.radii)
    xy, vis = lm[:, :2], lm[:, 2]
    sh_mid, hip_mid = midpoint(lm, LEFT_SHOULDER, RIGHT_SHOULDER), midpoint(lm, LEFT_HIP, RIGHT_HIP)
    tl = float(np.linalg.norm(sh_mid - hip_mid))
    if not np.isfinite(tl) or tl < 1e-6:
        return []

    caps: list[Capsule] = []
    # Torso: the shoulder-hip quadrilateral, its shoulder corners pulled in by ``shoulder_inset``
    # of the shoulder width (the shoulder landmarks sit on the arms' axes) and its hip corners
    # pushed out by ``hip_outset`` of the hip width (hip joints sit inside the pelvis), plus a
    # margin that grows as the view turns sideways (narrow quadrilateral, deep chest).
    ls, rs, lh, rh_ = xy[LEFT_SHOULDER], xy[RIGHT_SHOULDER], xy[LEFT_HIP], xy[RIGHT_HIP]
    ls, rs = ls + o.shoulder_inset * (rs - ls), rs + o.shoulder_inset * (ls - rs)
    lh, rh_ = lh + o.hip_outset * (lh - rh_), rh_ + o.hip_outset * (rh_ - lh)
    quad = np.stack([ls, rs, rh_, lh])
    sw = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER])) / tl
    margin = float(np.clip(r["torso"] + 0.2 - 0.5 * sw, r["torso"], r["torso"] + 0.15))
    caps.append((TORSO, "polygon", quad, margin * tl))

    # Head: a short capsule along the neck direction, centred a little above the ears.
    up = sh_mid - hip_mid
    up = up / (np.linalg.norm(up) + 1e-12)
    ear_mid = midpoint(lm, LEFT_EAR, RIGHT_EAR)
    face_mid = xy[list(FACE)].mean(axis=0)
    centre = 0.5 * ear_mid + 0.5 * face_mid
    ear_dist = float(np.linalg.norm(xy[LEFT_EAR] - xy[RIGHT_EAR]))
    sh_dist = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER]))
    rh = float(np.clip(max(o.head_scale * ear_dist, 0.5 * o.head_scale * sh_dist), o.head_min * tl, o.head_max * tl))
    centre = centre + up * 0.25 * rh
    caps.append((HEAD, "segment", np.stack([centre - up * 0.35 * rh, centre + up * 0.35 * rh]), rh))

    def support(a: np.ndarray, b: np.ndarray) -> float:
        if mask is None:
            return 0.0
        h, w = mask.shape
        t = np.linspace(0.0, 1.0, 9)
        pts = a[None, :] + t[:, None] * (b - a)[None, :]
        x, y = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        on = np.zeros(len(t), dtype=bool)
        on[ok] = mask[y[ok], x[ok]] > mask_threshold
        return float(on.mean())

    # A torso cut off by the picture's bottom edge: the person mask crosses it wider than
    # ``cut_width`` x the torso length (feet on the edge are narrower). Its "legs" are on the torso.
    cut_torso = mask is not None and o.cut_width is not None and \
        float(np.count_nonzero(mask[-1] > mask_threshold)) >= o.cut_width * tl

    def inside(p: np.ndarray) -> bool:
        return mask is not None and 0 <= p[0] < mask.shape[1] and 0 <= p[1] < mask.shape[0]

    def limb(label: int, kind: str, i: int, j: int, rescue: bool = False, flat: bool = False) -> bool:
        a, end = xy[i], xy[j]
        arm = label in (UPPER_ARMS, LOWER_ARMS) and o.arm_visibility is not None
        least = o.arm_visibility if arm else o.min_visibility
        visible = vis[i] >= least and vis[j] >= least
        if not visible and rescue and o.leg_mask_support is not None and inside(end) and not cut_torso:
            visible = support(a, end) >= o.leg_mask_support
        if visible:
            caps.append((label, "limb" if flat else "segment", np.stack([a, end]), r[kind] * tl))
        return visible

    for sh, el, wr, pi, ix in (
        (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, LEFT_PINKY, LEFT_INDEX),
        (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, RIGHT_PINKY, RIGHT_INDEX),
    ):
        if limb(UPPER_ARMS, "upper_arm", sh, el, flat=True) and limb(LOWER_ARMS, "lower_arm", el, wr):
            # Pascal-Person-Part's lower arm runs through the hand: from the wrist to past the
            # knuckles (MediaPipe's pinky and index points), or along the forearm when they are
            # not seen (a hand is about 0.4 of a forearm long).
            if vis[pi] >= o.min_visibility and vis[ix] >= o.min_visibility:
                hand = xy[wr] + o.hand_reach * ((xy[pi] + xy[ix]) / 2.0 - xy[wr])
            else:
                hand = xy[wr] + 0.4 * (xy[wr] - xy[el])
            caps.append((LOWER_ARMS, "segment", np.stack([xy[wr], hand]), r["hand"] * tl))

    for hp, kn, an, he, ft in (
        (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, LEFT_HEEL, LEFT_FOOT),
        (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, RIGHT_HEEL, RIGHT_FOOT),
    ):
        if o.max_knee_rise is not None and xy[kn, 1] < xy[hp, 1] - o.max_knee_rise * tl:
            continue  # a thigh folded up: an extrapolated leg, not a pedestrian's
        thigh = limb(UPPER_LEGS, "upper_leg", hp, kn, rescue=True, flat=True)
        if thigh and limb(LOWER_LEGS, "lower_leg", kn, an, rescue=True):
            if vis[ft] >= o.min_visibility or vis[an] >= o.min_visibility:
                caps.append((LOWER_LEGS, "segment", np.stack([xy[he], xy[ft]]), r["foot"] * tl))
    if mask is not None and not any(c[0] == UPPER_LEGS for c in caps):
        caps[0] = (TORSO, "polygon", torso_to_edge(quad, up, mask > mask_threshold), caps[0][3])
    return caps


def torso_to_edge(quad: np.ndarray, up: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The torso quadrilateral (shoulder corners, then hip corners) run down to the picture's
    bottom edge when the person does (``person``: the boolean mask) below the hips: a crop without
    legs (head and shoulders, upper body) shows the torso down to its edge, and the hips MediaPipe
    extrapolates lie inside it. Otherwise (the person ends above the edge) unchanged."""
    h, w = person.shape
    x0, x1 = sorted((int(np.floor(quad[2, 0])), int(np.floor(quad[3, 0]))))
    x0, x1 = max(0, x0), min(w, x1 + 1)
    down = -up
    if x1 <= x0 or down[1] < 0.5 or not person[h - 1, x0:x1].any():
        return quad
    out = quad.copy()
    for k in (2, 3):
        out[k] = quad[k] + down * max(0.0, (h - quad[k, 1]) / down[1])
    return out


def joints(caps: list[Capsule]) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """The elbows and knees of a body model: ``(upper, lower, joint, normal)`` for each upper arm
    (thigh) capsule, index ``upper`` in ``caps``, whose end is the start of a lower arm (lower leg)
    capsule, index ``lower``; ``normal`` is the unit normal of the plane that bisects the joint's
    angle, pointing down the lower bone. Pascal-Person-Part's upper/lower boundary is that plane:
    a pixel of either capsule on its far side is lower arm (lower leg)."""
    starts: dict[tuple[int, float, float], int] = {}
    for k, (lab, _, pts, _) in enumerate(caps):
        if lab in (LOWER_ARMS, LOWER_LEGS):
            starts.setdefault((lab, float(pts[0, 0]), float(pts[0, 1])), k)
    out = []
    for i, (lab, _, pts, _) in enumerate(caps):
        j = starts.get((lab + 1, float(pts[1, 0]), float(pts[1, 1]))) if lab in (UPPER_ARMS, UPPER_LEGS) else None
        if j is None:
            continue
        x0, y0 = float(pts[0, 0]), float(pts[0, 1])
        x1, y1 = float(pts[1, 0]), float(pts[1, 1])
        x2, y2 = float(caps[j][2][1, 0]), float(caps[j][2][1, 1])
        n1, n2 = math.hypot(x1 - x0, y1 - y0) + 1e-12, math.hypot(x2 - x1, y2 - y1) + 1e-12
        ux, uy = (x1 - x0) / n1 + (x2 - x1) / n2, (y1 - y0) / n1 + (y2 - y1) / n2
        norm = math.hypot(ux, uy)
        if norm < 1e-3:  # folded back on itself: the lower bone's direction decides
            ux, uy = (x2 - x1) / n2, (y2 - y1) / n2
            norm = math.hypot(ux, uy)
        if norm > 0:
            out.append((i, j, np.array([x1, y1]), np.array([ux / norm, uy / norm])))
    return out
