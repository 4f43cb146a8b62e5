"""How far a part map can be trusted: label-free consistency checks and the part-quality score.

No ground truth exists at run time, so the score combines what a map can be checked against
without labels (docs/part-quality.md gives the definition and its measured correlation with the
share of annotated keypoints that land on the right part):

- ``order``: head above torso above upper legs above lower legs (part centroids);
- ``attached``: each piece of an arm or leg touches its parent part (upper arm the torso or head,
  lower arm the upper arm or torso, thigh the torso, shin the thigh);
- ``balance``: left and right of the torso's centre line, arms and legs of similar size;
- ``centred``: the torso on the crop's centre line, where a re-ID crop's subject stands;
- ``agreement``: the map against the parser's person segmentation (when the parser has one);
- ``confidence``: the parser's person score over its operating point (when it has one).

Everything here is a pure NumPy (and OpenCV connected components) function of the map and the
numbers a parser returns, so SCHP's maps and maps read back from ``--parts-from`` are scored the
same way.
"""

from __future__ import annotations

import numpy as np

#: The centroid chain that must run downwards: head, torso, upper legs, lower legs.
CHAIN = (1, 2, 5, 6)
#: Limb part -> the parts it hangs from.
PARENTS = ((3, (1, 2)), (4, (2, 3)), (5, (2,)), (6, (5,)))


def consistency(parts: np.ndarray) -> dict[str, bool | None]:
    """The three pass/fail checks of a plausible standing person's map (None: not applicable):
    ``order`` (every link of the centroid chain downwards), ``attached`` (every limb piece of 4 px
    or more touches its parent, within 2 px) and ``symmetric`` (left and right arm and leg pixels
    within a factor 3 when both sides have 10 or more)."""
    graded = consistency_scores(parts)
    return {k: None if (g := graded[k]) is None else g >= 1.0 for k in ("order", "attached", "symmetric")}


def consistency_scores(parts: np.ndarray) -> dict[str, float | None]:
    """The checks of ``consistency`` graded in [0, 1] (None: not applicable): ``order`` the share
    of chain links pointing down, ``attached`` the share of limb pixels in pieces that touch their
    parent, ``symmetric`` 1 when the smaller side holds at least a third of the larger, else 3 x
    their ratio (the worse of arms and legs), ``centred`` 1 minus twice the torso's centre line's
    offset from the crop's as a fraction of the width."""
    parts = np.asarray(parts)
    order, attached = _order_attached(parts)
    h, w = parts.shape
    symmetric: float | None = None
    centred: float | None = None
    tx = np.nonzero(parts == 2)[1]
    if len(tx):
        centre = float(np.median(tx))
        centred = max(0.0, 1.0 - 2.0 * abs(centre + 0.5 - w / 2.0) / max(1.0, w))
        for pair in ((3, 4), (5, 6)):
            xs = np.nonzero((parts == pair[0]) | (parts == pair[1]))[1]
            left, right = int((xs < centre).sum()), int((xs >= centre).sum())
            if min(left, right) >= 10:
                s = min(1.0, 3.0 * min(left, right) / max(left, right))
                symmetric = s if symmetric is None else min(symmetric, s)
    return {"order": order, "attached": attached, "symmetric": symmetric, "centred": centred}


_KERNEL = np.ones((5, 5), np.uint8)


def _order_attached(parts: np.ndarray) -> tuple[float | None, float | None]:
    """``order`` and ``attached`` of ``consistency_scores``, the two checks the score multiplies in
    (kept apart so that scoring every parsed map costs little: one pass over the labels for the
    centroids, one connected-components pass and one dilation per limb present)."""
    import cv2

    # Only the box around the labelled pixels is looked at: the centroids' row sums are offset back
    # (exact: integer sums), the limb pieces and their parents all lie inside it.
    if parts.dtype == np.uint8:
        x0, y0, bw, bh = cv2.boundingRect(parts)  # of the non-zero pixels
    else:
        rows_on, cols_on = np.flatnonzero(parts.any(axis=1)), np.flatnonzero(parts.any(axis=0))
        y0, x0 = (int(rows_on[0]), int(cols_on[0])) if len(rows_on) else (0, 0)
        bh, bw = (int(rows_on[-1]) + 1 - y0, int(cols_on[-1]) + 1 - x0) if len(rows_on) else (0, 0)
    if bh == 0 or bw == 0:
        return None, None
    box = np.ascontiguousarray(parts[y0:y0 + bh, x0:x0 + bw])
    h, w = box.shape
    flat = box.ravel()
    counts = np.bincount(flat, minlength=7)
    rows = np.bincount(flat, weights=np.repeat(np.arange(y0, y0 + h, dtype=np.float64), w), minlength=7)
    chain = [rows[k] / counts[k] for k in CHAIN if counts[k]]
    order = float(np.mean([a < b for a, b in zip(chain, chain[1:])])) if len(chain) >= 2 else None
    on = total = 0
    for limb, parents in PARENTS:
        if not counts[limb]:
            continue
        # The limb's own box (its pieces lie inside) and, 2 px around it, the parents the 5 x 5
        # dilation can bring next to it: the same pieces, sizes and contacts as over the whole map.
        own = (box == limb).view(np.uint8)
        x, y, bw, bh = cv2.boundingRect(own)
        ly, lx = max(0, y - 2), max(0, x - 2)
        around = box[ly:min(h, y + bh + 2), lx:min(w, x + bw + 2)]
        n, comp, st, _ = cv2.connectedComponentsWithStats(own[y:y + bh, x:x + bw], connectivity=8)
        lut = np.zeros(max(256, int(counts.size)), np.uint8)  # labels -> 1 for the parents
        lut[list(parents)] = 1
        near = cv2.dilate(cv2.LUT(around, lut) if box.dtype == np.uint8 else lut[around], _KERNEL).view(bool)
        touching = np.bincount(comp[near[y - ly:y - ly + bh, x - lx:x - lx + bw]], minlength=n) > 0
        sizes = st[:, cv2.CC_STAT_AREA]
        big = sizes >= 4
        big[0] = False
        total += int(sizes[big].sum())
        on += int(sizes[big & touching].sum())
    return order, (on / total if total else None)


def agreement(parts: np.ndarray, person: np.ndarray) -> float:
    """IoU of the map's person (labels 1..6) with the segmentation's person mask (resized to the
    map's size when it differs); 1 when both are empty."""
    person = np.asarray(person, dtype=bool)
    if person.shape != parts.shape:
        import cv2

        person = cv2.resize(person.astype(np.uint8), (parts.shape[1], parts.shape[0]),
                            interpolation=cv2.INTER_NEAREST).astype(bool)
    mapped = parts > 0
    union = np.count_nonzero(mapped | person)
    return float(np.count_nonzero(mapped & person) / union) if union else 1.0


def confidence(person_score: float, low: float = 1.5, high: float = 12.0) -> float:
    """The person score as a share in [0, 1]: 0 at ``low`` (the silhouette fallback's operating
    point, the least a map is ever made from), 1 at ``high`` and above (the shared sets' people
    score 8-20, the non-person crops the parser accepts mostly 1.8-3)."""
    return float(min(1.0, max(0.0, (float(person_score) - low) / (high - low))))


#: The components multiplied into the score. ``symmetric`` and ``centred`` are computed and
#: reported but left out: on the annotated crops they did not rank the maps (side views are
#: lopsided, and a person may stand off the crop's centre and still be parsed right).
FACTORS = ("order", "attached", "agreement", "confidence")


def quality_components(parts: np.ndarray, person_score: float | None = None,
                       person: np.ndarray | None = None) -> dict[str, float | None]:
    """Every component in [0, 1] (None: not applicable to this map): ``consistency_scores``,
    ``agreement`` with the person mask and the person score's ``confidence``."""
    out = consistency_scores(parts)
    out["agreement"] = None if person is None else agreement(parts, person)
    out["confidence"] = None if person_score is None else confidence(person_score)
    return out


def part_quality(parts: np.ndarray | None, person_score: float | None = None,
                 person: np.ndarray | None = None, agreement_map: np.ndarray | None = None) -> float | None:
    """The part-quality score of a map in [0, 1], higher for a more trustworthy map; None for no
    map, 0 for an empty one.

    The product of the ``FACTORS`` that apply to the map (each a share in [0, 1]: every one must
    hold for the map to be right): the order of head, torso and legs, the share of limb pixels
    attached to their parents, the map's IoU with the person mask, and the person score's
    confidence. A parser without a person score or mask (SCHP, a plugin) is scored on the map's
    consistency alone. Rounded to 4 decimals, so that the manifest, the part map's PNG text and
    a reused map carry the same number. ``agreement_map``: the map the agreement is measured on
    when ``parts`` was grown towards the person mask (``mask.readmit``); default ``parts``."""
    if parts is None:
        return None
    parts = np.asarray(parts)
    if not (parts > 0).any():
        return 0.0
    order, attached = _order_attached(parts)
    comps = {"order": order, "attached": attached,
             "agreement": None if person is None else agreement(parts if agreement_map is None else agreement_map,
                                                               person),
             "confidence": None if person_score is None else confidence(person_score)}
    score = 1.0
    for k in FACTORS:
        if (factor := comps[k]) is not None:
            score *= factor
    return round(float(score), 4)


__all__ = ["FACTORS", "agreement", "confidence", "consistency", "consistency_scores", "part_quality",
           "quality_components"]
