"""The occlusion maths as pure NumPy functions: every parameter explicit, no randomness inside.

The paper's procedure (PAPER-NOTES.md): take one body part's mask from the part map, coarsen it
with repeated average pooling and an interpolation back to the image size, and fuse the coarse
mask into the image as a solid occluder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..parts import BACKGROUND, BODY_PARTS, NUM_LABELS


def part_areas(part_map: np.ndarray) -> np.ndarray:
    """Pixel count of each label 0..6 in a part map."""
    return np.bincount(part_map.ravel(), minlength=NUM_LABELS)[:NUM_LABELS]


def present_parts(part_map: np.ndarray, min_fraction: float = 0.02, min_pixels: int = 4) -> list[int]:
    """Body parts with at least ``min_fraction`` of the person's pixels (and ``min_pixels``)."""
    areas = part_areas(part_map)
    person = int(areas[1:].sum())
    if person == 0:
        return []
    floor = max(min_pixels, min_fraction * person)
    return [p for p in BODY_PARTS if areas[p] >= floor and areas[p] > 0]


def choose_part(rng: np.random.Generator, candidates: Sequence[int]) -> int | None:
    """One part drawn uniformly from ``candidates`` (None when there are none)."""
    if len(candidates) == 0:
        return None
    return int(candidates[int(rng.integers(len(candidates)))])


def part_mask(part_map: np.ndarray, parts: int | Sequence[int]) -> np.ndarray:
    """Boolean mask of the pixels labelled with ``parts`` (one index or several)."""
    return np.isin(part_map, np.atleast_1d(np.asarray(parts)))


def coarsen(mask: np.ndarray, levels: int = 4, kernel: int = 2, threshold: float = 0.0) -> np.ndarray:
    """Coarsen a mask into blocky grid cells, as the paper's "AvgPooling() * 4" then interpolation.

    ``levels`` successive ``kernel`` x ``kernel`` average pools equal one mean over cells of
    ``kernel ** levels`` pixels (16 x 16 for the defaults); cells cut by the image border average
    their pixels inside the image. Nearest upsampling back to the mask's size then occludes every
    cell whose mean exceeds ``threshold``: 0 (the default) occludes any cell the part touches,
    which enlarges the mask as the paper says; 0.5 keeps cells more than half covered.

    >>> m = np.zeros((32, 32), bool); m[3, 5] = True
    >>> coarsen(m).sum()  # the one 16 x 16 cell the pixel falls in
    256
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if levels < 0 or kernel < 1:
        raise ValueError(f"levels must be >= 0 and kernel >= 1, got levels={levels}, kernel={kernel}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    cell = kernel**levels
    if cell == 1:
        return mask.astype(bool, copy=True)
    h, w = mask.shape
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.zeros((gh * cell, gw * cell), np.float32)
    padded[:h, :w] = mask
    sums = padded.reshape(gh, cell, gw, cell).sum(axis=(1, 3))
    rows = np.minimum(cell, h - np.arange(gh) * cell)
    cols = np.minimum(cell, w - np.arange(gw) * cell)
    means = sums / np.outer(rows, cols)
    grid = means > threshold
    return np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)[:h, :w]


def fuse(image: np.ndarray, mask: np.ndarray, fill: float | Sequence[float] = 0) -> np.ndarray:
    """A copy of ``image`` with the pixels under ``mask`` set to ``fill`` (black by default).

    Works for H x W and H x W x C images of any dtype; ``fill`` is one value or one per channel.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    out = image.copy()
    out[mask] = np.asarray(fill, dtype=image.dtype) if np.ndim(fill) else fill
    return out


def coverage(occluder: np.ndarray, part_map: np.ndarray) -> tuple[float, float]:
    """(fraction of the image occluded, fraction of the person's pixels occluded)."""
    person = part_map != BACKGROUND
    n_person = int(person.sum())
    image_fraction = float(occluder.mean()) if occluder.size else 0.0
    person_fraction = float((occluder & person).sum() / n_person) if n_person else 0.0
    return image_fraction, person_fraction


# -- other occluder shapes -----------------------------------------------------------------
RECT_SIDES = ("top", "bottom", "left", "right")


def rectangle_mask(shape: tuple[int, int], side: str, fraction: float) -> np.ndarray:
    """A full-span rectangle along one border, as in Occluded-SYSU-MM01 / Occluded-RegDB.

    ``side`` is top, bottom, left or right; ``fraction`` is its depth as a fraction of the image
    height (top / bottom) or width (left / right).
    """
    if side not in RECT_SIDES:
        raise ValueError(f"side must be one of {', '.join(RECT_SIDES)}, got {side!r}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    h, w = shape
    mask = np.zeros((h, w), bool)
    depth_h, depth_w = max(1, round(h * fraction)), max(1, round(w * fraction))
    if side == "top":
        mask[:depth_h] = True
    elif side == "bottom":
        mask[h - depth_h :] = True
    elif side == "left":
        mask[:, :depth_w] = True
    else:
        mask[:, w - depth_w :] = True
    return mask


# -- fills: what the occluder looks like ---------------------------------------------------
def mean_colour(image: np.ndarray) -> np.ndarray:
    """The image's mean value per channel, in its dtype (a flat-colour occluder that blends in)."""
    axes = (0, 1) if image.ndim == 3 else None
    return np.round(image.mean(axis=axes)).astype(image.dtype)


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """A (2 * radius + 1)-wide box blur with edge replication, same shape and dtype."""
    if radius < 1:
        return image.copy()
    k = 2 * radius + 1
    arr = image.astype(np.float64)
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2)
    arr = np.pad(arr, pad, mode="edge")
    for axis in (0, 1):
        c = np.cumsum(arr, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        n = c.shape[axis]
        arr = (np.take(c, range(k, n), axis=axis) - np.take(c, range(0, n - k), axis=axis)) / k
    return np.round(arr).astype(image.dtype)


def paste(image: np.ndarray, mask: np.ndarray, source: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the pixels under ``mask`` taken from ``source`` (same shape):
    the shared last step of the noise, blur and texture fills."""
    if source.shape != image.shape:
        raise ValueError(f"source shape {source.shape} does not match image shape {image.shape}")
    out = image.copy()
    out[mask] = source[mask]
    return out


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) bounding box of a mask (exclusive ends), None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
