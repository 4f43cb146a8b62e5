"""The occlusion maths as pure NumPy functions: every parameter explicit, no randomness inside.

The paper's procedure (docs/paper.md): take one body part's mask from the part map, coarsen it
with repeated average pooling and an interpolation back to the image size, and fuse the coarse
mask into the image as a solid occluder.

The pasted occluders (docs/occluders.md) add: where a cut-out may go and how much of the drawn
part each placement covers (``cover_counts``), its soft edge (``edge_alpha``) and the paste
(``stamp``, ``blend``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..parts import BACKGROUND, BODY_PARTS, NUM_LABELS


def part_areas(part_map: np.ndarray) -> np.ndarray:
    """Pixel count of each label 0..6 in a part map."""
    if part_map.dtype == np.uint8:  # a count per label: the same numbers, without bincount's pass over 256 bins
        return np.array([np.count_nonzero(part_map == k) for k in range(NUM_LABELS)], np.intp)
    return np.bincount(part_map.ravel(), minlength=NUM_LABELS)[:NUM_LABELS]


def present_parts(part_map: np.ndarray, min_fraction: float = 0.02, min_pixels: int = 4) -> list[int]:
    """Body parts with at least ``min_fraction`` of the person's pixels (and ``min_pixels``)."""
    areas = part_areas(part_map)
    person = int(areas[1:].sum())
    if person == 0:
        return []
    floor = max(min_pixels, min_fraction * person)
    return [p for p in BODY_PARTS if areas[p] >= floor and areas[p] > 0]


def part_mask(part_map: np.ndarray, parts: int | Sequence[int]) -> np.ndarray:
    """Boolean mask of the pixels labelled with ``parts`` (one index or several)."""
    wanted = np.atleast_1d(np.asarray(parts))
    if part_map.dtype.kind in "iu" and wanted.dtype.kind in "iu" and 0 < wanted.size <= 8:
        out = part_map == wanted[0]  # the same mask as np.isin, without its set machinery
        for label in wanted[1:]:
            out |= part_map == label
        return out
    return np.isin(part_map, wanted)


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
    out = np.zeros((h, w), bool)
    box = mask_box(mask)
    if box is None:  # every cell's mean is 0, never above the threshold
        return out
    # only the cells the mask touches can be occluded: work on them alone, cells still aligned to
    # the image's top-left corner (the box widened outwards to cell boundaries)
    g0, c0 = box[0] // cell, box[1] // cell
    g1, c1 = -(-box[2] // cell), -(-box[3] // cell)
    y0, x0, y1, x1 = g0 * cell, c0 * cell, min(h, g1 * cell), min(w, c1 * cell)
    gh, gw = g1 - g0, c1 - c0
    padded = np.zeros((gh * cell, gw * cell), np.float32)
    padded[:y1 - y0, :x1 - x0] = mask[y0:y1, x0:x1]
    sums = padded.reshape(gh, cell, gw, cell).sum(axis=(1, 3))
    rows = np.minimum(cell, h - np.arange(g0, g1) * cell)
    cols = np.minimum(cell, w - np.arange(c0, c1) * cell)
    means = sums / np.outer(rows, cols)
    grid = means > threshold
    out[y0:y1, x0:x1] = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)[:y1 - y0, :x1 - x0]
    return out


def fuse(image: np.ndarray, mask: np.ndarray, fill: float | Sequence[float] | np.ndarray = 0) -> np.ndarray:
    """A copy of ``image`` with the pixels under ``mask`` set to ``fill`` (black by default).

    Works for H x W and H x W x C images of any dtype; ``fill`` is one value or one per channel.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    out = image.copy()
    value = np.asarray(fill, dtype=image.dtype) if np.ndim(fill) else fill
    if out.ndim == 3 and out.flags.c_contiguous:  # one row per pixel: the same pixels set, faster
        out.reshape(mask.size, -1)[np.flatnonzero(mask)] = value
    else:
        out[mask] = value
    return out


def coverage(occluder: np.ndarray, part_map: np.ndarray) -> tuple[float, float]:
    """(fraction of the image occluded, fraction of the person's pixels occluded)."""
    if occluder.dtype != bool:
        person = part_map != BACKGROUND
        n_person = int(person.sum())
        image_fraction = float(occluder.mean()) if occluder.size else 0.0
        person_fraction = float((occluder & person).sum() / n_person) if n_person else 0.0
        return image_fraction, person_fraction
    person = part_map != BACKGROUND
    n_person = np.count_nonzero(person)
    # counts are exact integers, so these are the same floats as mean() and sum() / n
    image_fraction = np.count_nonzero(occluder) / occluder.size if occluder.size else 0.0
    if not n_person:
        return float(image_fraction), 0.0
    person &= occluder
    return float(image_fraction), float(np.count_nonzero(person) / n_person)


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
    """A (2 * radius + 1)-wide box blur with edge replication, same shape and dtype.

    OpenCV's ``cv2.blur`` (border replicated) on a float64 copy, rounded half to even: exactly the
    means of the replicated neighbourhoods, for 8- and 16-bit images and any channel count.
    """
    import cv2

    if radius < 1:
        return image.copy()
    k = 2 * radius + 1
    blurred = cv2.blur(image.astype(np.float64), (k, k), borderType=cv2.BORDER_REPLICATE)
    return np.round(blurred.reshape(image.shape)).astype(image.dtype)


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


def texture_layer(image: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """An image-shaped layer holding ``texture`` (RGB uint8) stretched bilinearly over the mask's
    box, turned grey for a grey image (ITU-R 601 weights) and scaled to the image's bit depth."""
    from PIL import Image

    top = float(np.iinfo(image.dtype).max)
    box = mask_box(mask)
    if box is None:  # nothing to cover: an empty layer
        return np.zeros_like(image)
    y0, x0, y1, x1 = box
    size = (x1 - x0, y1 - y0)
    patch = np.asarray(Image.fromarray(texture).resize(size, Image.Resampling.BILINEAR)).astype(np.float64)
    if image.ndim == 2 or image.shape[2] == 1:
        patch = patch @ np.array([0.299, 0.587, 0.114])
        patch = patch if image.ndim == 2 else patch[..., None]
    layer = np.zeros(image.shape, np.float64)
    layer[y0:y1, x0:x1] = patch * (top / 255.0)
    return np.round(layer).astype(image.dtype)


def fill_black(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The paper's fill: the occluder black."""
    return fuse(image, mask, 0)


def fill_mean(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The occluder in the image's mean colour."""
    return fuse(image, mask, mean_colour(image))


def fill_blur(image: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """The occluder as a strong box blur of what lies underneath."""
    return paste(image, mask, box_blur(image, radius))


def fill_noise(image: np.ndarray, mask: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The occluder taken from ``noise`` (the image's shape and dtype; drawn by the caller)."""
    return paste(image, mask, noise)


def fill_texture(image: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """The occluder cut out of ``texture`` stretched over its box (``texture_layer``)."""
    return paste(image, mask, texture_layer(image, mask, texture))


def opaque_under(image: np.ndarray, filled_colour: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (colour channels then alpha) with its colour channels replaced by ``filled_colour``
    and its alpha made opaque under ``mask``: an occluder is never see-through."""
    out = image.copy()
    out[..., :-1] = filled_colour
    out[..., -1][mask] = np.iinfo(image.dtype).max
    return out


def paste_layer(image: np.ndarray, layer: np.ndarray, alpha: np.ndarray, has_alpha: bool) -> np.ndarray:
    """A pasted occluder (RGB ``layer`` with opacity ``alpha``) blended into ``image``; with an alpha
    channel (``has_alpha``, last channel) the alpha is blended towards opaque the same way."""
    colour = image[..., :-1] if has_alpha else image
    filled = blend(colour, to_image_layer(layer, colour), alpha)
    if not has_alpha:
        return filled
    out = image.copy()
    out[..., :-1] = filled
    opaque = np.full(image.shape[:2], np.iinfo(image.dtype).max, image.dtype)
    out[..., -1] = blend(image[..., -1], opaque, alpha)
    return out


# -- pasted occluders: real content with a soft edge, placed to cover the drawn part --------
def person_box(part_map: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) box of the person's pixels (exclusive ends), None without a person."""
    return mask_box(part_map != BACKGROUND)


def hands_to_head_band(part_map: np.ndarray) -> tuple[int, int] | None:
    """(top, bottom) rows where a held object stays: from the top of the person (the head) down to
    the lowest lower-arm pixel (the hands), or to the bottom of the torso when no lower arm shows,
    or to the middle of the person when neither does. None without a person."""
    box = person_box(part_map)
    if box is None:
        return None
    top, _, bottom, _ = box
    for label in (4, 2):  # lower arms (hands), else torso
        rows = np.flatnonzero((part_map == label).any(axis=1))
        if rows.size:
            return top, int(rows[-1]) + 1
    return top, top + max(1, (bottom - top) // 2)


def erode(mask: np.ndarray) -> np.ndarray:
    """One 4-neighbour binary erosion; outside the image counts as inside the mask, so an occluder
    that runs off the border keeps a hard edge there (it continues beyond the crop)."""
    padded = np.pad(mask, 1, mode="constant", constant_values=True)
    return (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])


def edge_alpha(mask: np.ndarray, softness: int) -> np.ndarray:
    """Opacity of a pasted occluder: 1 inside, ramping down over its outer ``softness`` pixels.

    A pixel ``d`` erosions deep (the outline is 0) gets ``min(1, (d + 1) / (softness + 1))``: with
    softness 2 the outline is 1/3 opaque, the next ring 2/3, the rest solid. The ramp is short on
    purpose: it hides the cut-out's staircase edge without fading the occluder away. Zero outside
    the mask, so every pixel outside it stays as it was; ``softness`` 0 gives a hard edge.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if softness < 0:
        raise ValueError(f"softness must be >= 0, got {softness}")
    mask = mask.astype(bool)
    depth = np.zeros(mask.shape, np.float32)
    current = mask
    for _ in range(softness + 1):
        depth += current
        if not current.any():
            break
        current = erode(current)
    return np.minimum(depth / np.float32(softness + 1), np.float32(1.0))


def cover_counts(target: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """How many ``target`` pixels a ``shape`` covers at every placement overlapping the image.

    Entry ``[i, j]`` is the count with the shape's top-left corner at row ``i - (h - 1)`` and
    column ``j - (w - 1)`` (``h, w = shape.shape``), so the array is (H + h - 1) x (W + w - 1):
    every placement that keeps at least one row and column of the shape on the image. Computed as
    one FFT cross-correlation and rounded, which is exact for binary masks of any practical size.
    ``target`` may also be a stack (K x H x W) of masks: one K x ... array comes back.
    """
    if target.ndim not in (2, 3) or shape.ndim != 2:
        raise ValueError(f"target must be 2-D (or a 3-D stack) and shape 2-D, got {target.shape} and {shape.shape}")
    from scipy import fft  # SciPy's pocketfft: faster real transforms than numpy<2's

    (H, W), (h, w) = target.shape[-2:], shape.shape
    size = (H + h - 1, W + w - 1)
    fast = (fft.next_fast_len(size[0], real=True), fft.next_fast_len(size[1], real=True))
    kernel = fft.rfft2(shape[::-1, ::-1].astype(np.float64), fast)
    spec = fft.rfft2(target.astype(np.float64), fast, axes=(-2, -1)) * kernel
    full = fft.irfft2(spec, fast, axes=(-2, -1))[..., :size[0], :size[1]]
    return np.rint(full).astype(np.int64)


def stamp(shape: tuple[int, int], patch: np.ndarray, alpha: np.ndarray, top: int, left: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """An image-sized layer and opacity holding ``patch`` (h x w [x C]) with opacity ``alpha``
    (h x w) placed with its top-left corner at (``top``, ``left``); parts off the image are cut."""
    H, W = shape
    h, w = alpha.shape
    layer = np.zeros((H, W) + patch.shape[2:], patch.dtype)
    out_alpha = np.zeros((H, W), np.float32)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, H), min(left + w, W)
    if y0 >= y1 or x0 >= x1:
        return layer, out_alpha
    layer[y0:y1, x0:x1] = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    out_alpha[y0:y1, x0:x1] = alpha[y0 - top:y1 - top, x0 - left:x1 - left]
    return layer, out_alpha


def blend(image: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * layer + (1 - alpha) * image``, rounded, where ``alpha`` > 0; every other pixel is
    returned bit for bit. ``layer`` has the image's shape and dtype, ``alpha`` is H x W in [0, 1]."""
    if layer.shape != image.shape or alpha.shape != image.shape[:2]:
        raise ValueError(f"layer {layer.shape} and alpha {alpha.shape} must match image {image.shape}")
    out = image.copy()
    box = mask_box(alpha > 0)
    if box is None:
        return out
    # over the occluder's box at once: where alpha is 0 the sum is exactly the image's value
    # (0 * layer + 1 * image), so those pixels come back bit for bit without a mask
    y0, x0, y1, x1 = box
    a = alpha[y0:y1, x0:x1].astype(np.float64)
    if image.ndim == 3:
        a = a[..., None]
    mixed = a * layer[y0:y1, x0:x1].astype(np.float64) + (1.0 - a) * image[y0:y1, x0:x1].astype(np.float64)
    out[y0:y1, x0:x1] = np.rint(mixed).astype(image.dtype)
    return out


def resize_cutout(pixels: np.ndarray, mask: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A cut-out (RGB pixels and boolean mask, cropped to the mask's box) scaled to ``height`` rows
    with its aspect ratio kept: pixels bilinear (antialiased when shrinking), the mask bilinear then
    cut at one half, so its outline stays smooth at any scale."""
    from PIL import Image

    box = mask_box(mask)
    if box is None:
        raise ValueError("the cut-out's mask is empty")
    y0, x0, y1, x1 = box
    pixels, mask = pixels[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    height = max(1, int(height))
    width = max(1, round((x1 - x0) * height / (y1 - y0)))
    rgb = np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize((width, height), Image.Resampling.BILINEAR))
    alpha = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.Resampling.BILINEAR)
    return rgb, np.asarray(alpha) >= 128


def free_windows(blocked: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where a ``height`` x ``width`` window holds no ``blocked`` pixel: a boolean array with one entry
    per top-left corner, (H - height + 1) x (W - width + 1), empty when the window is larger."""
    H, W = blocked.shape
    if height < 1 or width < 1 or height > H or width > W:
        return np.zeros((max(0, H - height + 1), max(0, W - width + 1)), bool)
    table = np.zeros((H + 1, W + 1), np.int64)
    table[1:, 1:] = blocked.astype(np.int64).cumsum(0).cumsum(1)
    sums = table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
    return sums == 0


def largest_free_window(blocked: np.ndarray, aspect: float) -> tuple[int, int] | None:
    """(height, width) of the tallest window of ``width = round(aspect * height)`` columns that holds
    no ``blocked`` pixel somewhere in the image (a binary search over heights), None when not even
    one pixel is free."""
    H, W = blocked.shape

    def size(h: int) -> tuple[int, int]:
        return h, max(1, round(aspect * h))

    def fits(h: int) -> bool:
        hh, ww = size(h)
        return ww <= W and bool(free_windows(blocked, hh, ww).any())

    if not fits(1):
        return None
    lo, hi = 1, H  # fits(lo) holds
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return size(lo)


def resize_rgb(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """An RGB uint8 image resized bilinearly (antialiased when shrinking) to ``height`` x ``width``."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize((width, height), Image.Resampling.BILINEAR))


def to_image_layer(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """An RGB uint8 layer in the form of ``like`` (grey or colour, 8 or 16 bits), for ``blend``."""
    if like.dtype == np.uint8 and like.ndim == 3 and like.shape[2] == 3:
        return rgb  # already in that form: the conversion below would give back the same values
    layer = rgb.astype(np.float64)
    if like.ndim == 2 or like.shape[2] == 1:
        layer = layer @ np.array([0.299, 0.587, 0.114])
        layer = layer if like.ndim == 2 else layer[..., None]
    top = float(np.iinfo(like.dtype).max)
    return np.rint(layer * (top / 255.0)).astype(like.dtype)
