"""The target band search (``--target``): which parts to cover so that the share of the person
hidden lands in a band, for generate's ``Occluder`` and the bench's ``PinnedOccluder`` alike.

The callers own the randomness: they hand over the draw orders (an iterator, taken lazily, so an
order drawn from an image's generator is drawn only when it is tried) and the mask of a set of
parts; the search itself draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .functional import coverage


def closest_draw(orders: Iterable[list[int]], mask_of: Callable[[tuple[int, ...]], np.ndarray],
                 part_map: np.ndarray, band: tuple[float, float], fewest: int) -> tuple[tuple[int, ...], np.ndarray]:
    """For each order, add its parts (``fewest`` first) until the covered share of the person
    reaches the band's low end; stop at the first draw inside the band, else keep the one closest
    to it. Returns (parts, mask) of the draw kept."""
    lo, hi = band
    best = None  # (distance, parts, mask)
    for order in orders:
        for k in range(min(fewest, len(order)), len(order) + 1):
            mask = mask_of(tuple(order[:k]))
            frac = coverage(mask, part_map)[1]
            if frac >= lo:
                break
        distance = 0.0 if lo <= frac <= hi else min(abs(frac - lo), abs(frac - hi))
        if best is None or distance < best[0]:
            best = (distance, tuple(order[:k]), mask)
        if distance == 0.0:
            break
    assert best is not None, "max_draws >= 1 (validated): one draw at least"
    return best[1], best[2]
