"""Whether a pass of the pose model saw a person: the evidence in its outputs, in pure NumPy.

The landmark model always returns a skeleton, and on a van, a signpost or a lamp post it returns
one with a fair presence score. What a hallucinated skeleton lacks is located evidence:

- ``person_score``: the presence score's logit plus the landmarks' heatmap peaks (how sharply the
  model located each landmark), minus what it claims beyond them (limbs called visible while
  vaguely located);
- ``heatmap_spread``: how far each body landmark's heatmap mass spreads around its peak (a real
  person's joint is a compact blob; a hallucinated one smears over a third of the input);
- ``mask_confidence``: how certain the person segmentation is inside the mask (the silhouette
  fallback trusts the mask alone, so it must be as certain as real people's masks).

The operating points (``DirectParser``'s ``min_score``, ``max_spread``,
``min_silhouette_confidence``) are calibrated in docs/part-quality.md: the last two on people
alone (percentiles of the shared sets' parsed people), so the non-person crops only test them.
"""

from __future__ import annotations

import numpy as np

#: The body landmarks (shoulders down): the face's are compact even on a hallucination.
BODY = slice(11, 33)


def logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def person_score(presence: float, peaks: np.ndarray | None, visibility: np.ndarray,
                 peak_weight: float = 10.0, overclaim_weight: float = 4.0) -> float:
    """logit(presence) + ``peak_weight`` x the 33 landmarks' mean heatmap peak + ``overclaim_weight``
    x the body landmarks' mean (peak - visibility). Without peaks, the presence logit alone."""
    score = logit(presence)
    if peaks is not None:
        pk, vis = np.asarray(peaks)[:33], np.asarray(visibility)[:33]
        score += peak_weight * float(np.mean(pk))
        score += overclaim_weight * float(np.mean(pk[BODY] - vis[BODY]))
    return score


def heatmap_spread(heatmaps: np.ndarray, landmarks: slice = BODY) -> float:
    """The median over ``landmarks`` of the root-mean-square distance (in heatmap cells, of 64) of
    each landmark's sigmoid heatmap mass from its peak cell. Real people: median about 12, 99th
    percentile 17.7, 99.9th 20.0 (docs/part-quality.md). From the row and column marginals: the squared
    distance splits into a row and a column term."""
    prob = np.array(np.asarray(heatmaps, dtype=np.float32)[:, :, landmarks], order="C")  # a copy: the sigmoid in place
    hh, hw, n = prob.shape
    prob *= np.float32(0.5)
    np.tanh(prob, out=prob)
    prob += np.float32(1.0)
    prob *= np.float32(0.5)
    top = np.argmax(prob.reshape(hh * hw, n), axis=0)
    r0, c0 = (top // hw).astype(np.float64), (top % hw).astype(np.float64)
    rows, cols = prob.sum(axis=1, dtype=np.float64), prob.sum(axis=0, dtype=np.float64)  # hh x n, hw x n
    ri, ci = np.arange(hh, dtype=np.float64)[:, None], np.arange(hw, dtype=np.float64)[:, None]
    moment = (rows * (ri - r0[None, :]) ** 2).sum(axis=0) + (cols * (ci - c0[None, :]) ** 2).sum(axis=0)
    mass = rows.sum(axis=0)
    return float(np.median(np.sqrt(moment / np.maximum(mass, 1e-6))))


def mask_confidence(mask_logits: np.ndarray, cut: float = 0.0) -> float:
    """The mean of |2 p - 1| over the mask's pixels (logit > ``cut``): 1 when the segmentation is
    certain of every person pixel, near 0 when it hovers at its threshold; 0 for an empty mask."""
    logits = np.asarray(mask_logits, dtype=np.float32)
    inside = logits[logits > cut]
    if inside.size == 0:
        return 0.0
    return float(np.mean(np.abs(np.tanh(0.5 * inside))))
