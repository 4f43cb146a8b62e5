"""The crop's subject: which person a re-ID crop was cut around, when it shows more than one.

A re-ID crop is a detector box drawn around one person, so that person stands in its middle; a
passer-by at the edge is cut off by the box. The pose model, though, follows whichever person it
sees best. When its skeleton sits off the crop's centre line, the parser hides that person
(``hide``: the pixels of their part map filled in from their surroundings with OpenCV's
inpainting) and looks again; the more centred of the two skeletons is the subject
(``centre_offset``), and the map of the second look does not spill onto the hidden person.
"""

from __future__ import annotations

import numpy as np

#: The landmarks whose mean x is the body's centre line: shoulders and hips.
CORE = (11, 12, 23, 24)


def scaled(landmarks: np.ndarray, to: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
    """Landmarks (N x >= 2, pixels of an image of ``size`` (h, w)) in the pixels of the same view
    at ``to`` (h, w): a copy."""
    lm = np.array(landmarks, dtype=np.float64, copy=True)
    lm[:, 0] *= to[1] / size[1]
    lm[:, 1] *= to[0] / size[0]
    return lm


def centre_line(landmarks: np.ndarray) -> float:
    """A skeleton's centre line: the mean x of its shoulders and hips (image pixels)."""
    return float(np.mean(np.asarray(landmarks, dtype=np.float64)[list(CORE), 0]))


def centre_offset(landmarks: np.ndarray, width: int) -> float:
    """How far a skeleton's centre line lies from the crop's, as a fraction of the crop's width
    (0: centred, 0.5: on the edge)."""
    return abs(centre_line(landmarks) - width / 2.0) / max(1.0, float(width))


def is_subject(first: np.ndarray, second: np.ndarray, width: int, min_apart: float = 0.2,
               min_height: float = 0.6) -> bool:
    """Is ``second`` (found with ``first``'s person hidden) the crop's subject rather than
    ``first``? It must be another person (centre lines at least ``min_apart`` of the width
    apart, not what was left of the first), more centred, and at least ``min_height`` as tall."""
    return (
        abs(centre_line(second) - centre_line(first)) >= min_apart * width
        and centre_offset(second, width) < centre_offset(first, width)
        and body_height(second) >= min_height * body_height(first)
    )


def spill(parts: np.ndarray, landmarks: np.ndarray, reach: float = 1.5) -> float:
    """The share of a map's pixels farther from the skeleton's centre line than ``reach`` x its
    shoulder width (at least a sixth of the map's width): arms held out reach there, a neighbour
    the map spilled onto lies there."""
    lm = np.asarray(landmarks, dtype=np.float64)
    xs = np.nonzero(np.asarray(parts) > 0)[1]
    if len(xs) == 0:
        return 0.0
    width = max(abs(lm[11, 0] - lm[12, 0]), parts.shape[1] / 6.0)
    return float(np.mean(np.abs(xs + 0.5 - centre_line(lm)) > reach * width))


def body_height(landmarks: np.ndarray) -> float:
    """The skeleton's height in pixels: highest face landmark to lowest ankle or heel."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return float(lm[27:31, 1].max() - lm[:11, 1].min())


def hide(rgb: np.ndarray, parts: np.ndarray, grow: int = 3) -> np.ndarray:
    """``rgb`` with the person of ``parts`` (a part map at any size: resized to the picture) filled
    in from their surroundings (Telea inpainting over their pixels grown by ``grow`` px)."""
    import cv2

    h, w = rgb.shape[:2]
    person: np.ndarray = (parts > 0).astype(np.uint8)
    if person.shape != (h, w):
        person = cv2.resize(person, (w, h), interpolation=cv2.INTER_NEAREST)
    if grow > 0:
        person = cv2.dilate(person, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return cv2.inpaint(np.ascontiguousarray(rgb), person, 3, cv2.INPAINT_TELEA)


_NEIGHBOURS = np.ones((5, 5), np.uint8)


def rival_peaks(heatmaps: np.ndarray, near: int = 6, min_ratio: float = 0.5, min_peak: float = 0.25) -> int:
    """How many landmarks (of those peaking at 0.3 or more) have a rival in their heatmap (64 x 64 x
    N logits): a local maximum (of its 5 x 5 neighbourhood) at least ``min_ratio`` of the peak and
    ``min_peak``, more than ``near`` cells from it. One person gives each landmark one blob; two
    people in the crop give many landmarks two (shared-set crops: median 2 of 33, 99th
    percentile 22)."""
    import cv2

    prob = np.ascontiguousarray(0.5 * (np.tanh(0.5 * np.asarray(heatmaps, dtype=np.float32)) + 1.0))
    hh, hw, n = prob.shape
    local = cv2.dilate(prob, _NEIGHBOURS).reshape(hh, hw, n)  # each landmark's 5 x 5 maximum
    top = np.argmax(prob.reshape(hh * hw, n), axis=0)
    peak = prob.reshape(hh * hw, n)[top, np.arange(n)]
    rows, cols, k = np.nonzero((prob >= local) & (prob >= np.maximum(min_ratio * peak, min_peak)))
    far = (rows - top[k] // hw) ** 2 + (cols - top[k] % hw) ** 2 > near * near
    rival = np.zeros(n, dtype=bool)
    rival[k[far]] = True
    return int(np.count_nonzero(rival & (peak >= 0.3)))
