"""A part map from a person silhouette and body proportions, when the landmarks are not usable.

The pose model's segmentation is often right where its landmarks are not (back views read as
front views with the shoulders below the hips, a limb folded across the body, a person half out of
the crop). When that mask is a plausible standing-person silhouette, the six parts can be laid
out from the silhouette alone: a standing body's parts follow each other down its height in known
proportions (head about 1/8 of the stature, hips near 1/2, knees near 3/4), and the arms hang
beside the trunk. Pure NumPy; the maths knows nothing of the model.

``silhouette_check`` says whether a mask is such a silhouette (so a van, a wall or noise stays
"no person"); ``silhouette_parts`` makes the map.
"""

from __future__ import annotations

import cv2
import numpy as np

HEAD, TORSO, UPPER_ARMS, LOWER_ARMS, UPPER_LEGS, LOWER_LEGS = 1, 2, 3, 4, 5, 6

#: Where each band ends, as a fraction of the silhouette's height from its top (head to soles):
#: head and neck, trunk (to the hips), thighs (to the knees), shins and feet.
DEFAULT_BANDS: dict[str, float] = {"head": 0.14, "torso": 0.50, "upper_legs": 0.74}
#: Arms: pixels of the trunk band farther from the trunk's centre line than this fraction of the
#: trunk's median width are arms; upper arms above ``elbow`` (fraction of the height), lower below.
ARM_OFFSET = 0.36
ELBOW = 0.33


def _extent(person: np.ndarray, min_fill: float) -> tuple[int, int, np.ndarray]:
    """First and last row holding at least ``min_fill`` of the widest row's pixels, and the
    per-row pixel counts."""
    rows = person.sum(axis=1)
    if rows.max() == 0:
        return 0, 0, rows
    on = np.nonzero(rows >= min_fill * rows.max())[0]
    return int(on[0]), int(on[-1]) + 1, rows


def silhouette_check(
    person: np.ndarray,
    *,
    min_area: float = 0.06,
    max_area: float = 0.75,
    min_height: float = 0.45,
    min_aspect: float = 1.4,
    min_row_cover: float = 0.9,
    max_head_ratio: float = 0.85,
    max_offcentre: float = 0.35,
) -> str | None:
    """Is this boolean H x W mask a standing person's silhouette? The reason it is not, or None.

    Checks: its area is ``min_area``..``max_area`` of the image; its rows span at least
    ``min_height`` of the image height and at least ``min_aspect`` times its own width (a standing
    person is tall and narrow; a van, a wall or a road is not); it has no gaps (at least
    ``min_row_cover`` of the rows between its top and bottom hold pixels); its top (the head) is
    narrower than its trunk (median width of the top tenth at most ``max_head_ratio`` of the trunk
    band's median width); its centre is within ``max_offcentre`` of the width from the image's
    centre line (a crop is centred on its person).
    """
    m = np.asarray(person, dtype=bool)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"the mask must be H x W, got shape {m.shape}")
    h, w = m.shape
    area = float(m.mean())
    if area < min_area:
        return "silhouette too small"
    if area > max_area:
        return "silhouette fills the image"
    top, bottom, rows = _extent(m, 0.05)
    span = bottom - top
    if span < min_height * h:
        return "silhouette too short"
    cols = np.nonzero(m[top:bottom].any(axis=0))[0]
    widths = rows[top:bottom]
    body_width = float(np.percentile(widths, 90))
    if span < min_aspect * body_width:
        return "silhouette not upright"
    if float(np.mean(widths > 0)) < min_row_cover:
        return "silhouette broken"
    head = widths[: max(1, span // 10)]
    trunk = widths[int(0.2 * span) : max(int(0.2 * span) + 1, int(0.45 * span))]
    if float(np.median(head)) > max_head_ratio * float(np.median(trunk)):
        return "silhouette has no head"
    xs = np.nonzero(m)[1]
    if abs(float(xs.mean()) + 0.5 - w / 2) > max_offcentre * w or len(cols) == 0:
        return "silhouette off-centre"
    return None


def silhouette_parts(
    person: np.ndarray,
    *,
    bands: dict[str, float] | None = None,
    arm_offset: float = ARM_OFFSET,
    elbow: float = ELBOW,
) -> np.ndarray:
    """The 7-label part map of a standing person's silhouette (boolean H x W), from proportions.

    Rows are labelled by their height in the silhouette (``bands``, fractions from its top: head,
    torso, upper legs, then lower legs to the bottom); in the torso band, pixels farther than
    ``arm_offset`` x the trunk's median width from the row's centre of mass are arms (upper above
    ``elbow``, lower below); rows of the head band keep only the pixels near the head's centre line
    (the rest is shoulder, labelled torso). Pixels off the silhouette stay 0.
    """
    m = np.asarray(person, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"the mask must be H x W, got shape {m.shape}")
    b = dict(DEFAULT_BANDS)
    if bands:
        unknown = set(bands) - set(b)
        if unknown:
            raise ValueError(f"unknown band names: {sorted(unknown)}")
        b.update(bands)
    if not 0 < b["head"] < b["torso"] < b["upper_legs"] < 1:
        raise ValueError(f"bands must increase within (0, 1), got {b}")
    out = np.zeros(m.shape, dtype=np.uint8)
    if not m.any():
        return out
    top, bottom, rows = _extent(m, 0.05)
    span = max(1, bottom - top)
    ys, xs = np.nonzero(m)
    t = (ys + 0.5 - top) / span
    label = np.full(len(ys), LOWER_LEGS, dtype=np.uint8)
    label[t < b["upper_legs"]] = UPPER_LEGS
    label[t < b["torso"]] = TORSO
    label[t < b["head"]] = HEAD

    # Centre line of each row (mean x of its pixels), and the trunk's width.
    counts = np.bincount(ys, minlength=m.shape[0]).astype(np.float64)
    centre = np.bincount(ys, weights=xs + 0.5, minlength=m.shape[0]) / np.maximum(counts, 1)
    trunk_rows = (np.arange(m.shape[0]) + 0.5 - top) / span
    in_trunk = (trunk_rows >= b["head"] + 0.05) & (trunk_rows < b["torso"] - 0.05) & (counts > 0)
    trunk_width = float(np.median(counts[in_trunk])) if in_trunk.any() else float(np.median(counts[counts > 0]))
    off = np.abs(xs + 0.5 - centre[ys])
    torso_band = label == TORSO
    arms = torso_band & (off > arm_offset * trunk_width) & (t > b["head"] + 0.04)
    label[arms & (t < elbow)] = UPPER_ARMS
    label[arms & (t >= elbow)] = LOWER_ARMS
    # The head band: the head is the middle of it; wider rows there are shoulders.
    head_rows = label == HEAD
    if head_rows.any():
        head_centre = float(np.median(xs[head_rows]))
        head_half = max(1.0, 0.5 * float(np.median(counts[np.unique(ys[head_rows])])), 0.3 * trunk_width)
        label[head_rows & (np.abs(xs + 0.5 - head_centre) > head_half) & (t > 0.5 * b["head"])] = TORSO
    out[ys, xs] = label
    return out


def gradient_magnitude(gray: np.ndarray) -> np.ndarray:
    """|central-difference gradient| of a 2-D image (float32, same shape; 0 on the border)."""
    g = np.asarray(gray, dtype=np.float32)
    out = np.zeros(g.shape, dtype=np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return out
    gx = g[1:-1, 2:] - g[1:-1, :-2]
    gy = g[2:, 1:-1] - g[:-2, 1:-1]
    out[1:-1, 1:-1] = np.sqrt(gx * gx + gy * gy) * 0.5
    return out


def boundary_contrast(magnitude: np.ndarray, person: np.ndarray) -> float:
    """How much the outline of ``person`` (boolean H x W) lies on image edges: the mean gradient
    ``magnitude`` on the mask's boundary pixels over the image's mean magnitude (1: no more than
    anywhere else, as for a mask hallucinated on a gradient or a texture; real people score about
    1.5-3). 0 when the mask has no boundary."""
    m = np.asarray(person, dtype=bool)
    mag = np.asarray(magnitude, dtype=np.float32)
    if m.shape != mag.shape:
        raise ValueError(f"mask {m.shape} and magnitude {mag.shape} differ in shape")
    return _contrast(mag, float(mag.mean()), m)


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def _contrast(mag: np.ndarray, mean: float, m: np.ndarray) -> float:
    """``boundary_contrast`` with the magnitude's mean given (a picture's is computed once)."""
    # The mask's boundary: its pixels with a 4-neighbour off it (outside the image counts as on it,
    # OpenCV's default erosion border).
    inner = cv2.erode(np.ascontiguousarray(m).view(np.uint8), _CROSS)
    edge = m > inner.view(bool)
    if not edge.any():
        return 0.0
    return float(mag[edge].mean()) / (mean + 1e-3)


def colour_overlap(rgb: np.ndarray, person: np.ndarray, levels: int = 4) -> float:
    """How alike the colours inside and outside a person mask are: the intersection (0..1) of
    the two normalised histograms of ``rgb`` quantised to ``levels`` per channel. A person stands
    out from the background (real crops: median 0.45, 99th percentile 0.8); a mask the model
    hallucinates on a texture has the texture on both sides (often above 0.85). 1 when either
    side is empty."""
    im = np.asarray(rgb)
    m = np.asarray(person, dtype=bool)
    if im.shape[:2] != m.shape or im.ndim != 3:
        raise ValueError(f"image {im.shape} and mask {m.shape} do not match")
    step = 256 // levels
    if im.dtype == np.uint8 and levels**3 <= 256:
        q = im // np.uint8(step)  # uint8: the codes fit
        code = (q[..., 0] * np.uint8(levels) + q[..., 1]) * np.uint8(levels) + q[..., 2]
    else:
        q = (im // step).astype(np.int32)
        code = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
    bins = levels**3
    inside_n = np.bincount(code[m], minlength=bins)
    inside = inside_n.astype(np.float64)
    outside = (np.bincount(code.ravel(), minlength=bins) - inside_n).astype(np.float64)
    if inside.sum() == 0 or outside.sum() == 0:
        return 1.0
    return float(np.minimum(inside / inside.sum(), outside / outside.sum()).sum())


class PictureCues:
    """``boundary_contrast`` and ``colour_overlap`` of one picture against person masks of any
    size (the masks may be smaller than the picture): the gradient is computed once per size."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self._magnitude: dict[tuple[int, int], tuple[np.ndarray, float]] = {}

    def _resized(self, image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if image.shape[:2] == shape:
            return image
        import cv2

        return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)

    def contrast(self, person: np.ndarray) -> float:
        """``boundary_contrast`` of the mask ``person`` on the picture."""
        shape = (int(person.shape[0]), int(person.shape[1]))
        if shape not in self._magnitude:
            import cv2

            grey = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
            mag = gradient_magnitude(self._resized(grey, shape))
            self._magnitude[shape] = (mag, float(mag.mean()))
        mag, mean = self._magnitude[shape]
        return _contrast(mag, mean, np.asarray(person, dtype=bool))

    def colour_overlap(self, person: np.ndarray) -> float:
        """``colour_overlap`` of the picture's colours inside and outside ``person``."""
        return colour_overlap(self._resized(self.rgb, (int(person.shape[0]), int(person.shape[1]))), person)
