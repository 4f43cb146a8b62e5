"""Where the picture is in a person crop, and which regions to show the pose model: pure NumPy.

Re-ID crops are detector boxes, but some sets pad them to a fixed size or aspect (black bars, or
the border pixels replicated outwards); such bars shrink the person in the model's input and give
it edges that are not there. ``content_box`` finds the picture inside the bars. ``crop_regions``
gives the square regions to try first: the whole crop, letterboxed (as MediaPipe grows a
detector's box), or for frames much wider than a standing person, overlapping squares across it.
"""

from __future__ import annotations

import numpy as np


def _bar_lengths(lines: np.ndarray, tolerance: float) -> int:
    """How many leading lines (axis 0 of ``lines``: n x length x 3, int16) repeat the outermost
    one within ``tolerance`` at every pixel: a uniform bar (black or any colour) or edge
    replication (every replicated line equals the picture's edge line)."""
    n = lines.shape[0]
    first = lines[0]
    k = 1
    while k < n - 1 and int(np.abs(lines[k] - first).max()) <= tolerance:
        k += 1
    return k


def content_box(
    rgb: np.ndarray, tolerance: int = 8, min_bar: float = 0.04, min_keep: float = 0.25
) -> tuple[int, int, int, int]:
    """The picture inside uniform or edge-replicated bars: ``(top, bottom, left, right)``, the rows
    ``top:bottom`` and columns ``left:right`` to keep.

    A bar is a run of border rows or columns that all repeat the outermost one within
    ``tolerance`` grey levels at every pixel (a uniform bar, or edge replication; JPEG ringing
    leaves a pixel or two of the bar behind, which is harmless). A run shorter than ``min_bar`` of
    that side, or than 3 pixels, is no bar (an upscaled crop repeats rows; a flat patch of wall
    may too). Bars are trimmed only while at least ``min_keep`` of the height and width stays; a
    uniform image keeps its full box.
    """
    im = np.asarray(rgb)
    if im.ndim == 2:
        im = im[:, :, None]
    h, w = im.shape[:2]
    if h < 2 or w < 2:
        return 0, h, 0, w
    arr = im.astype(np.int16)
    def bar(lines: np.ndarray, length: int) -> int:
        k = _bar_lengths(lines, tolerance)
        return k if k >= max(3.0, min_bar * length) else 0

    left = bar(arr.transpose(1, 0, 2), w)
    right = bar(arr[:, ::-1].transpose(1, 0, 2), w)
    top = bar(arr, h)
    bottom = bar(arr[::-1], h)
    if left + right > (1 - min_keep) * w or top + bottom > (1 - min_keep) * h:
        # A (nearly) uniform image: nothing to trim to.
        return 0, h, 0, w
    return top, h - bottom, left, w - right


def crop_regions(
    height: int, width: int, scale: float = 1.5, wide: float = 1.0, step: float = 0.5, max_regions: int = 5
) -> list[tuple[float, float, float]]:
    """The square regions ``(cx, cy, side)`` to run first on a crop of ``height`` x ``width``.

    A crop no wider than ``wide`` x its height gives one region: centred, ``scale`` x its longer
    side. A wider frame (a person beside a van, a street) gives squares of ``scale`` x the height
    every ``step`` x height across it, so a standing person is as large in the model's input as in
    a person crop; the caller keeps the best. At most ``max_regions`` squares (each is one
    inference): a panorama gets them spread evenly.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"a crop must have a positive size, got {height} x {width}")
    if width <= wide * height:
        return [(width / 2.0, height / 2.0, scale * max(height, width))]
    side = scale * height
    half = height / 2.0
    n = min(max(2, int(np.ceil((width - height) / (step * height))) + 1), max(2, int(max_regions)))
    centres = np.linspace(half, width - half, n)
    return [(float(cx), height / 2.0, side) for cx in centres]


def mask_region(
    person: np.ndarray, image_size: tuple[int, int], mask_scale: float, max_side: float
) -> tuple[float, float, float] | None:
    """The square region ``(cx, cy, side)`` in image pixels around a person mask (boolean, at the
    mask's size, which may be smaller than the image's ``(h, w)``): ``mask_scale`` x the mask
    box's longer side. None when the mask is empty, the region under 5 % of the image's longer
    side, or over ``max_side`` (it would frame the person no tighter than the first region)."""
    from .pose import mask_roi

    mh, mw = person.shape
    h, w = image_size
    roi = mask_roi(person, mask_scale)
    if roi is None:
        return None
    cx, cy, side = roi[0] * w / mw, roi[1] * h / mh, roi[2] * max(w / mw, h / mh)
    if side < 0.05 * max(h, w) or side > max_side:
        return None
    return cx, cy, side


def bottom_regions(
    height: int, width: int, fractions: tuple[float, ...], scale: float
) -> list[tuple[float, float, float]]:
    """Square regions ``(cx, cy, side)`` framing the lower part of a crop of ``height`` x ``width``,
    where the person a box was drawn around stands: for each fraction f, a region f x the height
    tall resting on the bottom edge, centred on the crop's centre line, framed as a square
    ``scale`` x as large (a person farther away, higher up in the box, is left above it)."""
    return [(width / 2.0, height * (1.0 - f / 2.0), scale * f * height) for f in fractions]


def place(parts: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """A part map of the picture inside ``box`` (``content_box``'s top, bottom, left, right; the
    map at any size) back in the whole image of ``size`` (h, w): resized to the box (nearest
    label), the bars left background."""
    top, bottom, left, right = box
    ph, pw = bottom - top, right - left
    if parts.shape != (ph, pw):
        import cv2

        parts = cv2.resize(parts, (pw, ph), interpolation=cv2.INTER_NEAREST)
    if parts.shape == size:
        return parts
    full = np.zeros(size, dtype=np.uint8)
    full[top:bottom, left:right] = parts
    return full
