"""Pose landmarks + person mask -> 7-label Pascal-Person-Part map, in pure NumPy.

The embedded parsers (``occreid.parser.direct``, default, and ``occreid.parser.mediapipe``) get 33
MediaPipe Pose landmarks and a float person mask (or its logits, with the threshold given as a
logit); this module turns them into a part map without importing MediaPipe, so it can be
tested on synthetic skeletons.

Method: the body is modelled as a set of "capsules", each a bone segment with a radius scaled by
the torso length (torso = the shoulder-hip quadrilateral with a margin; head = a short vertical
capsule around the ears sized by the ear-to-ear and shoulder distances). Each person-mask pixel
(mask > threshold) gets the label of the capsule with the smallest *normalised* distance
(distance / radius); pixels farther than ``max_distance`` radii from every capsule are background.
Boundaries are therefore geometric, not clothing edges: good enough to choose and shape an
occluder, not a parsing benchmark.

Landmarks are an array ``(33, 3)``: x and y in pixels of the image the mask belongs to (they may lie
outside it) and MediaPipe's visibility in [0, 1].
"""

from __future__ import annotations

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


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape (33, 3), got {lm.shape}")
    return lm


def _mid(lm: np.ndarray, a: int, b: int) -> np.ndarray:
    return (lm[a, :2] + lm[b, :2]) / 2.0


def _segment_distance2(
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
    np.clip(t, 0.0, 1.0, out=t)
    rx -= t * dx
    ry -= t * dy
    rx *= rx
    ry *= ry
    rx += ry
    if behind is not None:
        rx[behind] = np.inf
    return rx


def _polygon_distance2(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Squared distance of points to a closed polygon's area: 0 inside (even-odd rule of a
    horizontal ray), else to the nearest edge."""
    n = len(poly)
    dist = None
    inside = np.zeros(px.shape, dtype=bool)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        d2 = _segment_distance2(px, py, a, b)
        dist = d2 if dist is None else np.minimum(dist, d2, out=dist)
        if a[1] != b[1]:
            lo, hi = (a[1], b[1]) if a[1] < b[1] else (b[1], a[1])
            x_at = (py - np.float32(a[1])) * np.float32((b[0] - a[0]) / (b[1] - a[1])) + np.float32(a[0])
            inside ^= (py >= lo) & (py < hi) & (px < x_at)
    dist[inside] = 0.0
    return dist


def body_capsules(
    landmarks: np.ndarray,
    *,
    min_visibility: float = 0.25,
    radii: dict[str, float] | None = None,
    head_scale: float = 0.62,
    head_min: float = 0.16,
    head_max: float = 0.32,
    mask: np.ndarray | None = None,
    mask_threshold: float = 0.5,
    leg_mask_support: float | None = 0.6,
    shoulder_inset: float = 0.15,
    hip_outset: float = 0.25,
    hand_reach: float = 1.3,
    arm_visibility: float | None = None,
) -> list[tuple[int, str, np.ndarray, float]]:
    """The body model: a list of ``(label, kind, points, radius_px)``.

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
    """
    lm = _check_landmarks(landmarks)
    r = dict(DEFAULT_RADII)
    if radii:
        unknown = set(radii) - set(r)
        if unknown:
            raise ValueError(f"unknown radius names: {sorted(unknown)}")
        r.update(radii)
    xy, vis = lm[:, :2], lm[:, 2]
    sh_mid, hip_mid = _mid(lm, LEFT_SHOULDER, RIGHT_SHOULDER), _mid(lm, LEFT_HIP, RIGHT_HIP)
    tl = float(np.linalg.norm(sh_mid - hip_mid))
    if not np.isfinite(tl) or tl < 1e-6:
        return []

    caps: list[tuple[int, str, np.ndarray, float]] = []
    # Torso: the shoulder-hip quadrilateral, its shoulder corners pulled in by ``shoulder_inset``
    # of the shoulder width (the shoulder landmarks sit on the arms' axes) and its hip corners
    # pushed out by ``hip_outset`` of the hip width (hip joints sit inside the pelvis), plus a
    # margin that grows as the view turns sideways (narrow quadrilateral, deep chest).
    ls, rs, lh, rh_ = xy[LEFT_SHOULDER], xy[RIGHT_SHOULDER], xy[LEFT_HIP], xy[RIGHT_HIP]
    ls, rs = ls + shoulder_inset * (rs - ls), rs + shoulder_inset * (ls - rs)
    lh, rh_ = lh + hip_outset * (lh - rh_), rh_ + hip_outset * (rh_ - lh)
    quad = np.stack([ls, rs, rh_, lh])
    sw = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER])) / tl
    margin = float(np.clip(r["torso"] + 0.2 - 0.5 * sw, r["torso"], r["torso"] + 0.15))
    caps.append((TORSO, "polygon", quad, margin * tl))

    # Head: a short capsule along the neck direction, centred a little above the ears.
    up = sh_mid - hip_mid
    up = up / (np.linalg.norm(up) + 1e-12)
    ear_mid = _mid(lm, LEFT_EAR, RIGHT_EAR)
    face_mid = xy[list(FACE)].mean(axis=0)
    centre = 0.5 * ear_mid + 0.5 * face_mid
    ear_dist = float(np.linalg.norm(xy[LEFT_EAR] - xy[RIGHT_EAR]))
    sh_dist = float(np.linalg.norm(xy[LEFT_SHOULDER] - xy[RIGHT_SHOULDER]))
    rh = float(np.clip(max(head_scale * ear_dist, 0.5 * head_scale * sh_dist), head_min * tl, head_max * tl))
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

    def limb(label: int, kind: str, i: int, j: int, rescue: bool = False, flat: bool = False) -> bool:
        a, end = xy[i], xy[j]
        least = arm_visibility if label in (UPPER_ARMS, LOWER_ARMS) and arm_visibility is not None else min_visibility
        visible = vis[i] >= least and vis[j] >= least
        if not visible and rescue and leg_mask_support is not None:
            visible = support(a, end) >= leg_mask_support
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
            if vis[pi] >= min_visibility and vis[ix] >= min_visibility:
                hand = xy[wr] + hand_reach * ((xy[pi] + xy[ix]) / 2.0 - xy[wr])
            else:
                hand = xy[wr] + 0.4 * (xy[wr] - xy[el])
            caps.append((LOWER_ARMS, "segment", np.stack([xy[wr], hand]), r["hand"] * tl))

    for hp, kn, an, he, ft in (
        (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, LEFT_HEEL, LEFT_FOOT),
        (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, RIGHT_HEEL, RIGHT_FOOT),
    ):
        thigh = limb(UPPER_LEGS, "upper_leg", hp, kn, rescue=True, flat=True)
        if thigh and limb(LOWER_LEGS, "lower_leg", kn, an, rescue=True):
            if vis[ft] >= min_visibility or vis[an] >= min_visibility:
                caps.append((LOWER_LEGS, "segment", np.stack([xy[he], xy[ft]]), r["foot"] * tl))
    return caps


def part_map(
    landmarks: np.ndarray,
    mask: np.ndarray,
    *,
    mask_threshold: float = 0.5,
    min_visibility: float = 0.25,
    max_distance: float = 2.5,
    radii: dict[str, float] | None = None,
    leg_mask_support: float | None = 0.6,
    head_scale: float = 0.62,
    head_min: float = 0.16,
    head_max: float = 0.32,
    shoulder_inset: float = 0.15,
    hip_outset: float = 0.25,
    hand_reach: float = 1.3,
    arm_visibility: float | None = None,
    limb_threshold: float | None = None,
    arms_in_front: bool = True,
    front_reach: float = 1.5,
) -> np.ndarray:
    """Label each person-mask pixel with its nearest body capsule.

    Args:
        landmarks: (33, 3) MediaPipe landmarks, x and y in pixels of ``mask``, then visibility.
        mask: H x W float person mask (MediaPipe's segmentation, 0..1).
        mask_threshold: a pixel is "person" when ``mask > mask_threshold``.
        min_visibility: limb bones whose landmarks are less visible are dropped (see
            ``body_capsules`` for the leg rescue by mask support).
        max_distance: person pixels farther than this many radii from every capsule are
            background (a second person, a bag, a bicycle).
        radii: overrides of ``DEFAULT_RADII`` (fractions of the torso length).
        leg_mask_support, head_scale, head_min, head_max, shoulder_inset, hip_outset: the body
            model, see ``body_capsules``.
        limb_threshold: a lower threshold for the ends of the limbs: pixels with ``mask >
            limb_threshold`` inside a lower arm's (hand included) or lower leg's (foot included)
            capsule are person too (the segmentation is blurred across a thin forearm or shin and
            often drops hands and feet); None: ``mask_threshold``.
        arms_in_front, front_reach: pixels within ``front_reach`` radii of an arm's bone are
            arm even where the torso or a thigh is as near (an arm in front of the body hides it,
            and Pascal-Person-Part labels what is seen; a forearm is wider than its capsule's
            radius), and pixels inside the head's capsule are head, not torso.

    Returns:
        H x W uint8 map, 0 background, 1 head, 2 torso, 3 upper arms, 4 lower arms, 5 upper legs,
        6 lower legs.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {mask.shape}")
    out = np.zeros(mask.shape, dtype=np.uint8)
    weak_cut = mask_threshold if limb_threshold is None else min(limb_threshold, mask_threshold)
    ys, xs = np.nonzero(mask > weak_cut)
    if len(ys) == 0:
        return out
    strong = mask[ys, xs] > mask_threshold
    caps = body_capsules(
        landmarks,
        min_visibility=min_visibility,
        radii=radii,
        mask=mask,
        mask_threshold=mask_threshold,
        leg_mask_support=leg_mask_support,
        head_scale=head_scale,
        head_min=head_min,
        head_max=head_max,
        shoulder_inset=shoulder_inset,
        hip_outset=hip_outset,
        hand_reach=hand_reach,
        arm_visibility=arm_visibility,
    )
    if not caps:
        return out
    px, py = xs.astype(np.float32) + 0.5, ys.astype(np.float32) + 0.5
    best = np.full(px.shape, np.inf, dtype=np.float32)  # squared normalised distance
    label = np.zeros(px.shape, dtype=np.uint8)
    arm = np.full(px.shape, np.inf, dtype=np.float32)  # the same, to the nearest arm capsule
    arm_label = np.zeros(px.shape, dtype=np.uint8)
    end = np.zeros(px.shape, dtype=bool)  # inside a lower arm's or lower leg's capsule
    head = np.full(px.shape, np.inf, dtype=np.float32)
    for lab, kind, pts, rad in caps:
        if kind == "polygon":
            d2 = _polygon_distance2(px, py, pts)
        else:
            d2 = _segment_distance2(px, py, pts[0], pts[1], flat_start=kind == "limb")
        d2 *= np.float32(1.0 / max(rad, 1e-6) ** 2)
        closer = d2 < best
        np.copyto(best, d2, where=closer)
        label[closer] = lab
        if lab in (UPPER_ARMS, LOWER_ARMS):
            nearer = d2 < arm
            np.copyto(arm, d2, where=nearer)
            arm_label[nearer] = lab
        if lab in (LOWER_ARMS, LOWER_LEGS):
            end |= d2 <= 1.0
        if lab == HEAD:
            head = d2
    if arms_in_front:
        front = (arm <= np.float32(front_reach * front_reach)) & np.isin(label, (TORSO, UPPER_LEGS))
        label[front] = arm_label[front]
        label[(head <= 1.0) & (label == TORSO)] = HEAD
    label[best > np.float32(max_distance * max_distance)] = 0
    label[~strong & ~(end & np.isin(label, (LOWER_ARMS, LOWER_LEGS)))] = 0
    out[ys, xs] = label
    return out


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
      the crop below the image, so such crops pass);
    - at least ``min_core_support`` of points along the shoulder-hip axis lie on the mask, else
      "skeleton off the person mask".
    """
    if landmarks is None or mask is None:
        return "no person"
    lm = _check_landmarks(landmarks)
    if not np.all(np.isfinite(lm)):
        return "no person"
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        raise ValueError(f"mask shape {mask.shape} does not match {(height, width)}")
    if height <= 0 or width <= 0 or float(np.mean(mask > mask_threshold)) < min_mask_fraction:
        return "no person"
    xy = lm[:, :2]
    sh_mid, hip_mid = _mid(lm, LEFT_SHOULDER, RIGHT_SHOULDER), _mid(lm, LEFT_HIP, RIGHT_HIP)
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
        return "person too small"
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
    lm = _check_landmarks(landmarks)
    if not np.all(np.isfinite(lm)):
        return reason
    h, w = np.asarray(mask).shape
    if reason == "no person":
        share = float(np.mean(np.asarray(mask) > mask_threshold))
        return f"no person: the person mask covers {100 * share:.1f} % of the crop"
    sh_mid, hip_mid = _mid(lm, LEFT_SHOULDER, RIGHT_SHOULDER), _mid(lm, LEFT_HIP, RIGHT_HIP)
    tl = float(np.linalg.norm(sh_mid - hip_mid))
    if reason.startswith("skeleton implausible"):
        tilt = float(np.degrees(np.arccos(np.clip((hip_mid[1] - sh_mid[1]) / max(tl, 1e-6), -1, 1))))
        return f"{reason} (torso tilted {tilt:.0f} degrees, {tl:.0f} px long in a {h} px high crop)"
    if reason == "person too small":
        span = float(max(lm[LEFT_ANKLE, 1], lm[RIGHT_ANKLE, 1]) - lm[list(FACE), 1].min())
        return f"{reason} (torso {tl:.0f} px, head to ankles {span:.0f} px in a {h} px high crop)"
    if reason == "skeleton off the person mask":
        t = np.linspace(0.0, 1.0, 11)
        pts = sh_mid[None, :] + t[:, None] * (hip_mid - sh_mid)[None, :]
        x, y = np.floor(pts[:, 0]).astype(int), np.floor(pts[:, 1]).astype(int)
        ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        on = np.zeros(len(t), dtype=bool)
        on[ok] = np.asarray(mask)[y[ok], x[ok]] > mask_threshold
        return f"{reason} (only {100 * on.mean():.0f} % of the shoulder-to-hip line on it)"
    return reason
