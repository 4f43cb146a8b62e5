"""Where a pasted occluder goes: another person's cut-out, a piece of scene, or an object.

The ``Occluder`` (``transforms``) draws the body part(s) to cover, then calls ``place``, which
draws the rest from the same per-image generator, in this order (docs/occluders.md):

- ``person``: a donor of another identity and a scale, then a placement with the donor's feet at or
  a little below the target's (``cut_out``);
- ``object``: an object of the bank and a size, then a placement its kind allows: ``ground`` objects
  rise from the bottom edge, ``held`` ones sit in the hands-to-head band (``cut_out``);
- ``scene``: a donor, then a window of its background with the occluder's proportions, pasted in the
  coarsened shape of the drawn part (``scene``).

Each tries up to ``max_draws`` donors (or objects and sizes) and keeps the first placement covering
``min_cover`` of the drawn part; a failure is a reason string and the image ends ``not_covered``.
The pixel maths (resizing, cover counts, soft edges, free windows) is ``functional``'s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..parts import PARTS
from . import functional as F

if TYPE_CHECKING:
    from .donors import DonorBank, ObjectBank
    from .transforms import OcclusionParams

NO_DONOR_MAP = "no donor among {draws} draws has a saved part map with a person"
#: A scene occluder enlarges its piece of background at most this much (more looks blurred).
SCENE_MAX_ZOOM = 2.0


class Pasted(NamedTuple):
    """A placed occluder: ``layer`` (H x W x 3 uint8 RGB) shown with opacity ``alpha`` (H x W in
    [0, 1], 0 off the occluder); ``donor`` the donor's relpath or the object's file under
    ``objects_dir``; ``covered`` the share of the drawn part's pixels it covers at least half opaque."""

    layer: np.ndarray
    alpha: np.ndarray
    donor: str
    covered: float


def place(params: OcclusionParams, part_map: np.ndarray, parts: tuple[int, ...], rng: np.random.Generator,
          target=None, donors: DonorBank | None = None, objects: ObjectBank | None = None) -> Pasted | str:
    """The occluder of shape ``params.shape`` over the drawn ``parts``, or why there is none.

    ``target`` (relpath, split, pid) and ``donors`` are needed by shapes person and scene,
    ``objects`` by shape object.
    """
    drawn_mask = F.part_mask(part_map, parts)
    need = max(1, math.ceil(params.min_cover * int(drawn_mask.sum()) - 1e-9))
    if params.shape == "scene":
        found = scene(params, part_map, drawn_mask, need, rng, donors, target)
    else:
        found = cut_out(params, part_map, drawn_mask, need, rng, donors, target, objects)
    if isinstance(found, str):
        return found.replace("{part}", "+".join(PARTS[x] for x in parts))
    layer, alpha, donor = found
    covered = float(((alpha >= 0.5) & drawn_mask).sum() / drawn_mask.sum())
    return Pasted(layer, alpha, donor, covered)


def donor_pool(params: OcclusionParams, donors: DonorBank, target) -> np.ndarray:
    """The indices of the donors ``target`` may draw: other identities, in its split or any."""
    if target is None:
        raise ValueError(f"shape {params.shape!r} needs the target image (relpath, split, pid) to draw a "
                         "donor of another identity")
    return donors.eligible(target.relpath, target.split, target.pid, params.donor_split == "same")


def no_donor(params: OcclusionParams, target) -> str:
    where = f"split {target.split}" if params.donor_split == "same" else "the bank"
    return f"no donor: no other identity in {where}"


def cut_out(params: OcclusionParams, part_map, drawn_mask, need, rng, donors=None, target=None, objects=None):
    """Shapes person and object: a cut-out scaled to the target's person height, placed where
    it covers ``need`` drawn-part pixels (and at most ``max_person_covered`` of the person).

    Returns (layer, alpha, donor's relpath or object's file), or the reason none was found (with
    ``{part}`` standing for the drawn part's name)."""
    p = params
    H, W = part_map.shape
    person = part_map != 0
    box = F.person_box(part_map)
    assert box is not None, "a part was drawn, so the map holds a person"
    top, left, bottom, right = box
    height = bottom - top
    max_person = math.floor(p.max_person_covered * int(person.sum()) + 1e-9)
    if p.shape == "person":
        pool = donor_pool(p, donors, target)
        if len(pool) == 0:
            return no_donor(p, target)
    band = F.hands_to_head_band(part_map) if p.shape == "object" else None
    best, tried = 0, 0
    for _ in range(p.max_draws):
        if p.shape == "person":
            donor = donors.load(int(pool[int(rng.integers(len(pool)))]))
            scale = float(rng.uniform(*p.person_scale))
            if donor is None:
                continue
            source, name, kind = (donor.pixels, donor.part_map != 0), donor.relpath, "person"
            size = scale
        else:
            obj = objects.load(int(rng.integers(len(objects))))
            size = float(rng.uniform(*p.object_size))
            source, name, kind = (obj.pixels, obj.mask), obj.name, obj.kind
        tried += 1
        rgb, shape = F.resize_cutout(*source, round(size * height))
        h, w = shape.shape
        core = F.edge_alpha(np.pad(shape, 1), p.edge_softness)[1:-1, 1:-1] >= 0.5
        counts, on_person = F.cover_counts(np.stack([drawn_mask, person]), core)
        ok = on_person <= max_person
        rows = np.arange(counts.shape[0]) - (h - 1)  # top row of each placement
        cols = np.arange(counts.shape[1]) - (w - 1)
        if kind == "person":  # feet at, or a little below, the target's feet
            feet = rows + h
            ok &= ((feet >= bottom + round(p.person_drop[0] * height))
                   & (feet <= bottom + round(p.person_drop[1] * height)))[:, None]
        elif kind == "ground":  # rises from the bottom edge
            ok &= (rows + h == H)[:, None]
        else:  # held: centre in the hands-to-head band, over the person's box
            assert band is not None, "held objects are drawn for --shape object only"
            cy, cx = rows + h / 2, cols + w / 2
            ok &= ((cy >= band[0]) & (cy <= band[1]))[:, None] & ((cx >= left) & (cx <= right))[None, :]
        if ok.any():
            best = max(best, int(counts[ok].max()))
        good = np.flatnonzero((ok & (counts >= need)).ravel())
        if good.size:
            i, j = np.unravel_index(int(good[int(rng.integers(good.size))]), counts.shape)
            layer, placed = F.stamp((H, W), rgb, shape.astype(np.float32), int(rows[i]), int(cols[j]))
            return layer, F.edge_alpha(placed > 0, p.edge_softness), name
    what = "donors" if p.shape == "person" else "objects and sizes"
    if tried == 0:
        return NO_DONOR_MAP.format(draws=p.max_draws)
    return (f"no placement of {tried} {what} covers {p.min_cover:.0%} of the drawn {{part}} within "
            f"max_person_covered {p.max_person_covered:.0%} (best {best / int(drawn_mask.sum()):.0%})")


def scene(params: OcclusionParams, part_map, drawn_mask, need, rng, donors, target):
    """Shape scene: the coarsened part mask filled with a piece of another image's background.

    The piece is the largest window of the occluder's proportions that holds none of the
    donor's person (its part map, widened by two pixels: parsers draw outlines loosely), scaled
    up to the occluder's box by at most ``SCENE_MAX_ZOOM``: scene content in front of the person
    stands nearer the camera, so it looks larger.

    Returns (layer, alpha, donor's relpath), or the reason none was found (as ``cut_out``)."""
    p = params
    H, W = part_map.shape
    mask = F.coarsen(drawn_mask, p.pool_levels, p.pool_kernel, p.threshold)
    alpha = F.edge_alpha(mask, p.edge_softness)
    if int(((alpha >= 0.5) & drawn_mask).sum()) < need:
        return (f"the coarsened mask of the drawn {{part}} covers less than {p.min_cover:.0%} of it once its edge "
                f"is softened; lower edge_softness or threshold")
    mask_box = F.mask_box(mask)
    assert mask_box is not None, "the coarsened mask covers the drawn part (checked above)"
    y0, x0, y1, x1 = mask_box
    box_h, box_w = y1 - y0, x1 - x0
    pool = donor_pool(p, donors, target)
    if len(pool) == 0:
        return no_donor(p, target)
    tried = 0
    for _ in range(p.max_draws):
        donor = donors.load(int(pool[int(rng.integers(len(pool)))]))
        if donor is None:
            continue
        tried += 1
        person = donor.part_map != 0
        for _ in range(2):
            person = ~F.erode(~person)
        found = F.largest_free_window(person, box_w / box_h)
        if found is None or found[0] * SCENE_MAX_ZOOM < box_h:
            continue
        h, w = found
        corners = np.flatnonzero(F.free_windows(person, h, w).ravel())
        top, left = np.unravel_index(int(corners[int(rng.integers(corners.size))]), (person.shape[0] - h + 1,
                                                                                     person.shape[1] - w + 1))
        piece = F.resize_rgb(donor.pixels[top:top + h, left:left + w], box_h, box_w)
        layer = np.zeros((H, W, 3), np.uint8)
        layer[y0:y1, x0:x1] = piece
        return layer, alpha, donor.relpath
    if tried == 0:
        return NO_DONOR_MAP.format(draws=p.max_draws)
    return (f"no donor among {p.max_draws} draws shows a background piece of the occluder's proportions "
            f"within {SCENE_MAX_ZOOM}x zoom")
