"""The label formats of the part-based occluded re-ID methods, as pure NumPy: occreid's part maps and
pose landmarks in, BPBReID's part fields and KPR's keypoint prompts out (facts in docs/labels.md).

BPBReID (VlSomers/bpbreid) reads one ``.npy`` per image, a float array of shape ``(C, H, W)``
(``read_masks`` loads it and turns it to ``H x W x C`` for albumentations, which resizes it to the
image size). For a ``masks_dirs`` entry whose second value is True (``isp_6_parts``: 5 parts, with
background) channel 0 is the background, dropped by ``RemoveBackgroundMask`` and rebuilt as
``1 - sum(parts)`` by ``AddBackgroundMask('sum')``; the others are the parts in order.

KPR (VlSomers/keypoint_promptable_reidentification) reads one JSON per image: a list of skeletons
``{"keypoints": [[x, y, c] x 17], "is_target": bool}`` in COCO-17 order, pixel coordinates of the
crop; the target is the positive prompt, the others negative prompts; a keypoint with ``c`` at or
below ``vis_thresh`` (0.3) is not used, and ``[0, 0, 0]`` is how PifPaf writes a missing one.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..parts import PARTS

# -- BPBReID part fields ---------------------------------------------------------------------------
#: The ``isp_6_parts`` channels occreid writes: channel name -> occreid labels it holds. Channel 0 is
#: the background; the parts are ordered head to feet, as ISP's clusters are.
ISP6_CHANNELS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "head": (1,),
    "torso": (2,),
    "arms": (3, 4),
    "upper_legs": (5,),
    "lower_legs": (6,),
}
#: How BPBReID's loader is told about them: ``masks_dirs[name] = (parts, has_background, suffix)``.
ISP6_PARTS_NUM = len(ISP6_CHANNELS) - 1
#: The suffix BPBReID's ``infer_masks_path`` appends to the image's stem (``isp_6_parts``, ``pifpaf``).
MASKS_SUFFIX = ".jpg.confidence_fields.npy"
#: The file name KPR's ``infer_kp_path`` appends to the image's stem.
KEYPOINTS_SUFFIX = ".jpg_keypoints.json"


def part_fields(part_map: np.ndarray | None, shape: tuple[int, int], covered: np.ndarray | None = None,
                stride: int = 1) -> np.ndarray:
    """BPBReID ``isp_6_parts`` fields of one image: float32 ``(6, ceil(H / stride), ceil(W / stride))``,
    channel 0 background then head, torso, arms, upper legs, lower legs (``ISP6_CHANNELS``).

    ``part_map`` (H x W labels 0..6, None: no person) is one-hot encoded; pixels under the occluder
    (``covered``, H x W bool) belong to no body part, so they count as background: what the occluded
    image shows there is not the target. With ``stride`` > 1 each channel is the share of each
    ``stride`` x ``stride`` block (area average), so the channels still sum to 1 everywhere.
    """
    h, w = shape
    labels = np.zeros((h, w), np.uint8) if part_map is None else np.asarray(part_map, np.uint8)
    if labels.shape != (h, w):
        raise ValueError(f"part map {labels.shape} does not match the image {(h, w)}")
    if covered is not None:
        if covered.shape != (h, w):
            raise ValueError(f"occluder mask {covered.shape} does not match the image {(h, w)}")
        labels = np.where(covered, np.uint8(0), labels)
    lookup = np.zeros(len(PARTS), np.intp)
    for channel, members in enumerate(ISP6_CHANNELS.values()):
        lookup[list(members)] = channel
    onehot = (lookup[labels][None] == np.arange(len(ISP6_CHANNELS))[:, None, None]).astype(np.float32)
    if stride <= 1:
        return onehot
    return block_average(onehot, stride)


def block_average(fields: np.ndarray, stride: int) -> np.ndarray:
    """Each ``stride`` x ``stride`` block's mean per channel (a partial block at the edge averages
    the pixels it has), so one-hot channels become shares that still sum to 1."""
    c, h, w = fields.shape
    oh, ow = math.ceil(h / stride), math.ceil(w / stride)
    padded = np.zeros((c, oh * stride, ow * stride), np.float64)
    padded[:, :h, :w] = fields
    count = np.zeros((oh * stride, ow * stride), np.float64)
    count[:h, :w] = 1
    sums = padded.reshape(c, oh, stride, ow, stride).sum(axis=(2, 4))
    n = count.reshape(oh, stride, ow, stride).sum(axis=(1, 3))
    return (sums / n).astype(np.float32)


def npy_bytes(fields: np.ndarray) -> bytes:
    """The ``.npy`` file of an array (NumPy's format 1.0, what ``np.load`` reads), made in memory."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(fields), allow_pickle=False)
    return buf.getvalue()


# -- COCO-17 keypoints from MediaPipe's 33 landmarks ------------------------------------------------
#: COCO's 17 keypoints, in COCO's (and PifPaf's, and KPR's) order.
COCO17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: For each COCO-17 keypoint, the MediaPipe Pose landmark with the same meaning (MediaPipe's indices:
#: 0 nose, 2 left eye (centre), 5 right eye, 7 left ear, 8 right ear, 11/12 shoulders, 13/14 elbows,
#: 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles; both name sides from the person's view).
MEDIAPIPE_FOR_COCO17: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: KPR's default ``vis_thresh``: a keypoint whose score is at or below it is not used as a prompt.
KPR_VIS_THRESH = 0.3


def coco17(landmarks: np.ndarray, shape: tuple[int, int], covered: np.ndarray | None = None) -> np.ndarray:
    """COCO-17 keypoints ``(17, 3)`` float64 ``(x, y, score)`` in image pixels from MediaPipe's
    landmarks (33 or more rows of x, y, visibility; x, y continuous pixel coordinates).

    The score is MediaPipe's visibility; a keypoint outside the image, or on a pixel of the
    occluder (``covered``), is written ``[0, 0, 0]`` as PifPaf writes a keypoint it does not see.
    """
    h, w = shape
    lm = np.asarray(landmarks, np.float64)
    out = lm[list(MEDIAPIPE_FOR_COCO17), :3].copy()
    out[:, 2] = np.clip(np.nan_to_num(out[:, 2], nan=0.0), 0.0, 1.0)
    finite = np.isfinite(out[:, :2]).all(axis=1)
    inside = finite & (out[:, 0] >= 0) & (out[:, 0] < w) & (out[:, 1] >= 0) & (out[:, 1] < h)
    if covered is not None and inside.any():
        col = np.clip(np.floor(np.where(inside, out[:, 0], 0)).astype(np.intp), 0, w - 1)
        row = np.clip(np.floor(np.where(inside, out[:, 1], 0)).astype(np.intp), 0, h - 1)
        inside &= ~covered[row, col]
    out[~inside] = 0.0
    return out


def paste_transform(source_box: tuple[int, int, int, int], placed_box: tuple[int, int, int, int],
                    shape: tuple[int, int], source_mask: np.ndarray | None = None,
                    placed_mask: np.ndarray | None = None) -> tuple[float, float, float, float] | None:
    """Where a pasted person's pixels went: ``(scale_x, scale_y, offset_x, offset_y)`` mapping its
    own image's pixels to the target's (``x' = offset_x + scale_x * x``), from the box of the
    donor's person pixels and the box of the occluder mask in a target of ``shape``.

    occreid pastes the donor's person (cropped to its box) scaled with its aspect kept; a side of
    the mask box on the image's edge may have been cut. Uncut, the scale is the boxes' height ratio
    and the offset their corners'. Cut, with ``source_mask`` and ``placed_mask`` given, the paste is
    made again as occreid makes it (``_search``) at each height and position the uncut sides allow,
    and the one overlapping the mask best is kept; without the masks, the scale is the distance of
    two opposite uncut sides. None when nothing fits.
    """
    h, w = shape
    sy0, sx0, sy1, sx1 = source_box
    ty0, tx0, ty1, tx1 = placed_box
    sw, sh = sx1 - sx0, sy1 - sy0
    if sw <= 0 or sh <= 0:
        return None
    cut_top, cut_left, cut_bottom, cut_right = ty0 <= 0, tx0 <= 0, ty1 >= h, tx1 >= w
    if not (cut_left or cut_right or cut_top or cut_bottom):
        scale = (ty1 - ty0) / sh  # the whole paste in view: its height, the longer side, is the finer measure
        return scale, scale, tx0 - scale * sx0, ty0 - scale * sy0
    if source_mask is not None and placed_mask is not None:
        found = _search(source_mask, placed_mask, source_box, placed_box)
        if found is None:
            return None
        height, top, left = found
        scale = height / sh
        return scale, scale, left - scale * sx0, top - scale * sy0
    if (cut_left and cut_right) or (cut_top and cut_bottom):
        return None
    scale = (tx1 - tx0) / sw if not (cut_left or cut_right) else (ty1 - ty0) / sh
    if cut_top and cut_left or cut_top and cut_right or cut_bottom and (cut_left or cut_right):
        return None  # a corner cut off: the scale is not in the boxes
    px = float(tx0) if not cut_left else tx1 - scale * sw  # the paste's left and top, cut off or not
    py = float(ty0) if not cut_top else ty1 - scale * sh
    return scale, scale, px - scale * sx0, py - scale * sy0


def _search(source_mask, placed_mask, source_box, placed_box) -> tuple[int, int, int] | None:
    """(height, top, left) of the paste that best overlaps ``placed_mask`` (intersection over union
    of at least 0.5), the donor's person resized as occreid resizes a cut-out (``resize_cutout``).

    A side of the mask box off the image's edge is where the paste starts or ends; along an axis cut
    on both sides every position that covers it is tried. Heights: from the mask box's own up to
    three times the image's longer side, or, when the width is in view, the few around its ratio."""
    from ..occlusion.functional import resize_cutout

    h, w = placed_mask.shape
    sy0, sx0, sy1, sx1 = source_box
    ty0, tx0, ty1, tx1 = placed_box
    cut_top, cut_left, cut_bottom, cut_right = ty0 <= 0, tx0 <= 0, ty1 >= h, tx1 >= w
    crop = np.asarray(source_mask, bool)
    pixels = np.zeros(crop.shape + (3,), np.uint8)
    target = np.asarray(placed_mask, bool)
    area = int(target.sum())
    if not (cut_left or cut_right):
        guess = round((tx1 - tx0) * (sy1 - sy0) / (sx1 - sx0))
        heights = range(max(1, ty1 - ty0, guess - 3), max(1, ty1 - ty0, guess + 4))
    elif not (cut_top or cut_bottom):
        heights = range(max(1, ty1 - ty0 - 1), ty1 - ty0 + 2)
    else:
        heights = range(max(1, ty1 - ty0), 3 * max(h, w) + 1)
    best, best_iou = None, 0.5
    for height in heights:
        _, cut = resize_cutout(pixels, crop, height)
        ch, cw = cut.shape
        tops = range(h - ch, 1) if cut_top and cut_bottom else [ty1 - ch if cut_top else ty0]
        lefts = range(w - cw, 1) if cut_left and cut_right else [tx1 - cw if cut_left else tx0]
        for top in tops:
            for left in lefts:
                y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + ch, h), min(left + cw, w)
                if y0 >= y1 or x0 >= x1:
                    continue
                inside = cut[y0 - top:y1 - top, x0 - left:x1 - left]
                both = int((inside & target[y0:y1, x0:x1]).sum())
                iou = both / (area + int(inside.sum()) - both)
                if iou > best_iou:
                    best, best_iou = (height, top, left), iou
    return best


def moved(keypoints: np.ndarray, transform: tuple[float, float, float, float], shape: tuple[int, int]) -> np.ndarray:
    """COCO-17 keypoints moved by ``paste_transform``'s mapping; those landing off the target image,
    or missing before, are ``[0, 0, 0]``."""
    sx, sy, ox, oy = transform
    h, w = shape
    out = np.asarray(keypoints, np.float64).copy()
    seen = out[:, 2] > 0
    out[:, 0] = ox + sx * out[:, 0]
    out[:, 1] = oy + sy * out[:, 1]
    inside = seen & (out[:, 0] >= 0) & (out[:, 0] < w) & (out[:, 1] >= 0) & (out[:, 1] < h)
    out[~inside] = 0.0
    return out


def on_mask(keypoints: np.ndarray, mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """Keypoints kept only where they lie on ``mask`` grown by ``margin`` pixels (a joint sits on the
    outline); the others ``[0, 0, 0]``. A pasted person shows only its person pixels: a donor's
    keypoint off them (a hand its part map missed) was not pasted."""
    out = np.asarray(keypoints, np.float64).copy()
    h, w = mask.shape
    seen = out[:, 2] > 0
    keep = np.zeros(len(out), bool)
    for i in np.flatnonzero(seen):
        x, y = int(out[i, 0]), int(out[i, 1])
        keep[i] = mask[max(0, y - margin):y + margin + 1, max(0, x - margin):x + margin + 1].any()
    out[~keep] = 0.0
    return out


def kpr_skeletons(target: np.ndarray | None, negatives: Sequence[np.ndarray] = ()) -> list[dict]:
    """KPR's keypoint file content: the target skeleton (``is_target`` true, the positive prompt)
    first, then every other person's (negative prompts). No target skeleton: an empty list, which
    KPR reads as no keypoints (all zeros) for that image."""
    if target is None:
        return []
    skeletons = [{"keypoints": _rounded(target), "is_target": True}]
    skeletons += [{"keypoints": _rounded(n), "is_target": False} for n in negatives]
    return skeletons


def _rounded(keypoints: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 3), round(float(y), 3), round(float(c), 4)] for x, y, c in np.asarray(keypoints)]


# -- where the files go ------------------------------------------------------------------------------
#: ``bpbreid``: BPBReID's and KPR's rule (``infer_masks_path``, ``infer_kp_path``): the name of one
#: folder above the image (its parent, for most of their dataset classes), then its stem; ``mirror``:
#: the image's whole relative folder, for a dataset class of one's own whose images share parent
#: folder names (PRCC's ``A/001``, ``B/001``).
PATH_RULES = ("bpbreid", "mirror")


@dataclass(frozen=True)
class LoaderPaths:
    """How their dataset class for one layout names an image's label files: the folder ``up`` levels
    above the image gives the folder name kept (1: the parent), and ``keypoints_suffix`` is appended
    to the image's stem for KPR's keypoint file."""

    up: int = 1
    keypoints_suffix: str = KEYPOINTS_SUFFIX


#: The layouts whose classes depart from the parent-folder rule of their base ``Dataset``. Occluded-REID
#: (``OccludedReID`` in both BPBReID and KPR) keeps the split folder, two above the image, as its images
#: sit in person folders whose names repeat across splits (``occluded_body_images/001/001_01.tif``:
#: ``masks/<dir>/occluded_body_images/001_01<suffix>``), and KPR's reads ``<stem>.tif_keypoints.json``.
LOADER_PATHS: dict[str, LoaderPaths] = {"occluded-reid": LoaderPaths(up=2, keypoints_suffix=".tif_keypoints.json")}


def loader_paths(layout: str | None) -> LoaderPaths:
    """The label-file naming of their dataset class for ``layout`` (the parent-folder rule by default)."""
    return LOADER_PATHS.get(layout or "", LoaderPaths())


def label_relpath(relpath: str, suffix: str, rule: str = "bpbreid", up: int = 1) -> str:
    """The relative path of an image's label file under ``masks/<dir>`` or ``external_annotation/<dir>``:
    ``<folder up levels above>/<stem><suffix>`` (rule ``bpbreid``, as their loaders compute it from the
    image path: ``up`` is 1, the parent, but for ``LOADER_PATHS``) or ``<relative folder>/<stem><suffix>``
    (rule ``mirror``)."""
    folder, name = posixpath.split(relpath)
    stem = os.path.splitext(name)[0]
    if rule == "bpbreid":
        for _ in range(up - 1):
            folder = posixpath.dirname(folder)
        folder = posixpath.basename(folder)
    elif rule != "mirror":
        raise ValueError(f"unknown path rule {rule!r}; expected one of {', '.join(PATH_RULES)}")
    return posixpath.join(folder, stem + suffix) if folder else stem + suffix


__all__ = [
    "COCO17", "ISP6_CHANNELS", "ISP6_PARTS_NUM", "KEYPOINTS_SUFFIX", "KPR_VIS_THRESH", "LOADER_PATHS", "LoaderPaths",
    "MASKS_SUFFIX", "MEDIAPIPE_FOR_COCO17", "PATH_RULES", "block_average", "coco17", "kpr_skeletons", "label_relpath",
    "loader_paths", "moved", "on_mask",
    "npy_bytes", "part_fields", "paste_transform",
]
