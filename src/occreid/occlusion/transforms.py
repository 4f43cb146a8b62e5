"""Thin seeded wrappers over ``functional``: they only hold parameters and draw the random choices.

Randomness lives here: each image gets its own generator derived from ``(seed, relative path)``,
so what happens to one image never depends on worker count or order. The ``Occluder`` draws the
part(s) to cover; for the pasted shapes (person, scene, object) ``pasted`` then draws the donor or
object and its placement from that same generator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from ..parts import BODY_PARTS, PARTS
from ..registry import Registry
from ..status import Status
from . import functional as F
from . import pasted
from .band import closest_draw
from .seeds import image_rng, relpath_rng, rng_key, tracklet_order  # noqa: F401  (re-exported)
from .textures import check_texture_dir, load_texture, texture_files

#: The statuses an occlusion can end in (``occreid.status``; the runner adds ``error`` and
#: ``not_selected``). ``not_covered``: a pasted occluder (person, scene, object) found no donor or
#: placement covering ``min_cover`` of the drawn part; the image is left unchanged.
OCCLUDED, PART_ABSENT = Status.OCCLUDED, Status.PART_ABSENT
NO_PERSON, NOT_COVERED = Status.NO_PERSON, Status.NOT_COVERED

PART_CHOICES = ("present", "paper")
SHAPES = ("part", "rectangle", "person", "scene", "object")
#: Shapes pasted from real content (another person, the scene, a user's object) with a soft edge.
PASTED_SHAPES = ("person", "scene", "object")
#: Pasted shapes cut from other images of the dataset (a ``DonorBank``): every image's part map must
#: exist before any is occluded.
DONOR_SHAPES = ("person", "scene")
DONOR_SPLITS = ("same", "any")
#: The fields only pasted shapes use; ``as_dict`` leaves them out for the other shapes, so the
#: fingerprints of part and rectangle runs are what they were before these shapes existed.
PASTED_FIELDS = ("min_cover", "max_person_covered", "edge_softness", "donor_split", "person_scale",
                 "person_drop", "object_size", "objects_dir")

#: The fills (``--fill``): name -> ``fill(colour, mask, params, fill_seed) -> colour`` (a copy with the
#: occluder filled). Each draws what it needs from ``fill_seed`` and calls ``functional``; register
#: your own with ``FILLS.register("name")`` before building ``OcclusionParams(fill="name")``.
FILLS = Registry("fill")


@FILLS.register("black")
def _black(colour: np.ndarray, mask: np.ndarray, params: OcclusionParams, fill_seed: int) -> np.ndarray:
    """the paper's: the occluder black"""
    return F.fill_black(colour, mask)


@FILLS.register("mean")
def _mean(colour: np.ndarray, mask: np.ndarray, params: OcclusionParams, fill_seed: int) -> np.ndarray:
    """the image's mean colour"""
    return F.fill_mean(colour, mask)


@FILLS.register("noise")
def _noise(colour: np.ndarray, mask: np.ndarray, params: OcclusionParams, fill_seed: int) -> np.ndarray:
    """uniform noise drawn from the image's fill seed"""
    top = int(np.iinfo(colour.dtype).max)
    noise = np.random.default_rng(fill_seed).integers(0, top + 1, colour.shape, dtype=np.int64)
    return F.fill_noise(colour, mask, noise.astype(colour.dtype))


@FILLS.register("blur")
def _blur(colour: np.ndarray, mask: np.ndarray, params: OcclusionParams, fill_seed: int) -> np.ndarray:
    """a strong box blur (blur_radius) of what lies underneath"""
    return F.fill_blur(colour, mask, params.blur_radius)


@FILLS.register("texture")
def _texture(colour: np.ndarray, mask: np.ndarray, params: OcclusionParams, fill_seed: int) -> np.ndarray:
    """an object image from texture_dir, drawn by the fill seed, cut to the occluder's shape"""
    files = texture_files(str(params.texture_dir))
    texture = load_texture(files[int(np.random.default_rng(fill_seed).integers(len(files)))])
    return F.fill_texture(colour, mask, texture)


def _range(value, name: str, low: float, high: float) -> tuple[float, float] | None:
    if value is None:
        return None
    a, b = (float(v) for v in value)
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} must be two numbers with {low} <= min <= max <= {high}, got {value}")
    return (a, b)


@dataclass(frozen=True)
class OcclusionParams:
    """Everything that decides an occluder, validated when built (see ``presets.py``).

    shape: ``part`` (the paper's body-part blob) or ``rectangle`` (Feng et al.'s full-span black
        rectangle at the top, bottom, left or right of the image).
    part_choice: ``present`` draws over the parts present in the image, so every image with a
        person is occluded; ``paper`` draws over all six parts as the paper does, and an absent
        part leaves the image untouched (status ``part_absent``).
    num_parts: how many distinct parts one occluder covers.
    target: (min, max) fraction of the person's pixels to cover: parts are added, then the
        draw is repeated (up to ``max_draws`` times) until the covered fraction is inside it;
        otherwise the closest draw is kept. None: no target.
    pool_levels, pool_kernel: the coarsening, ``pool_levels`` successive ``pool_kernel`` x
        ``pool_kernel`` average pools (the paper: four 2x2 pools, 16-pixel cells).
    threshold: a coarse cell is occluded when its pooled mean exceeds this (0 = any overlap).
    fill: ``black`` (the paper's), ``mean`` (the image's mean colour), ``noise`` (uniform
        noise), ``blur`` (a strong box blur of what is underneath, radius ``blur_radius``), or
        ``texture`` (an object image from ``texture_dir`` stretched over the occluder's box and
        cut to its shape: bins, cars, umbrellas...).
    min_part_fraction: a part counts as present when it has at least this fraction of the
        person's pixels.
    rect_sides, rect_fraction: the rectangle's possible sides and its depth range (fraction of
        the image height for top / bottom, width for left / right).

    The pasted shapes (docs/occluders.md) draw the part(s) as ``part`` does, then paste real content
    over them with a soft edge, placed so that it covers at least ``min_cover`` of the drawn part:
    ``person`` another pedestrian cut out by its own part map, ``scene`` background of another
    image shaped by the coarsened part mask, ``object`` a cut-out from ``objects_dir``. Each tries up
    to ``max_draws`` donors (or objects and sizes); when none reaches ``min_cover`` the image is left
    unchanged with status ``not_covered``.

    min_cover: the least share of the drawn part's pixels the occluder must cover (pixels at
        least half opaque count as covered).
    max_person_covered: the most of the person's pixels a person or object occluder may cover,
        so a donor standing right in front does not hide the whole target.
    edge_softness: width in pixels of the occluder's alpha ramp (``functional.edge_alpha``).
    donor_split: ``same`` draws donors from the target's own split only; ``any`` from every split.
    person_scale: (min, max) height of the pasted person relative to the target's person height.
    person_drop: (min, max) how far below the target's feet the pasted person's feet stand, as a
        fraction of the target's person height (a nearer pedestrian stands lower in the frame).
    object_size: (min, max) height of a pasted object relative to the target's person height.
    objects_dir: the object bank of shape ``object`` (``donors.ObjectBank``: ground/ and held/).
    """

    shape: str = "part"
    part_choice: str = "present"
    num_parts: int = 1
    target: tuple[float, float] | None = None
    max_draws: int = 20
    pool_levels: int = 4
    pool_kernel: int = 2
    threshold: float = 0.0
    fill: str = "black"
    blur_radius: int = 8
    texture_dir: str | None = None
    min_part_fraction: float = 0.02
    rect_sides: tuple[str, ...] = F.RECT_SIDES
    rect_fraction: tuple[float, float] = (0.25, 0.5)
    min_cover: float = 0.5
    max_person_covered: float = 0.6
    edge_softness: int = 2
    donor_split: str = "same"
    person_scale: tuple[float, float] = (0.9, 1.1)
    person_drop: tuple[float, float] = (0.0, 0.1)
    object_size: tuple[float, float] = (0.3, 0.6)
    objects_dir: str | None = None

    def __post_init__(self) -> None:
        def bad(name, allowed):
            return ValueError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

        if self.shape not in SHAPES:
            raise bad("shape", f"one of {', '.join(SHAPES)}")
        if self.part_choice not in PART_CHOICES:
            raise bad("part_choice", f"one of {', '.join(PART_CHOICES)}")
        if not 1 <= self.num_parts <= len(BODY_PARTS):
            raise bad("num_parts", f"in 1..{len(BODY_PARTS)}")
        object.__setattr__(self, "target", _range(self.target, "target", 0.0, 1.0))
        if not 1 <= self.max_draws <= 1000:
            raise bad("max_draws", "in 1..1000")
        if not 0 <= self.pool_levels <= 8:
            raise bad("pool_levels", "in 0..8")
        if not 1 <= self.pool_kernel <= 8:
            raise bad("pool_kernel", "in 1..8")
        if not 0.0 <= self.threshold < 1.0:
            raise bad("threshold", "in [0, 1)")
        if self.fill not in FILLS:
            raise bad("fill", f"one of {', '.join(FILLS)}")
        if not 1 <= self.blur_radius <= 256:
            raise bad("blur_radius", "in 1..256")
        if self.fill == "texture":
            check_texture_dir(self.texture_dir)
        if not 0.0 <= self.min_part_fraction < 1.0:
            raise bad("min_part_fraction", "in [0, 1)")
        sides = tuple(self.rect_sides)
        if not sides or any(s not in F.RECT_SIDES for s in sides):
            raise bad("rect_sides", f"a non-empty subset of {', '.join(F.RECT_SIDES)}")
        object.__setattr__(self, "rect_sides", sides)
        rect = _range(self.rect_fraction, "rect_fraction", 0.0, 1.0)
        if rect is None or rect[0] <= 0:
            raise ValueError(f"rect_fraction must be above 0, got {self.rect_fraction}")
        object.__setattr__(self, "rect_fraction", rect)
        self._check_pasted(bad)

    def _check_pasted(self, bad) -> None:
        if not 0.0 < self.min_cover <= 1.0:
            raise bad("min_cover", "in (0, 1]")
        if not 0.0 < self.max_person_covered <= 1.0:
            raise bad("max_person_covered", "in (0, 1]")
        if not 0 <= self.edge_softness <= 16:
            raise bad("edge_softness", "in 0..16 (pixels)")
        if self.donor_split not in DONOR_SPLITS:
            raise bad("donor_split", f"one of {', '.join(DONOR_SPLITS)}")
        object.__setattr__(self, "person_scale", _range(self.person_scale, "person_scale", 0.2, 3.0))
        object.__setattr__(self, "person_drop", _range(self.person_drop, "person_drop", -0.5, 1.0))
        object.__setattr__(self, "object_size", _range(self.object_size, "object_size", 0.05, 3.0))
        if self.shape not in PASTED_SHAPES:
            return
        if self.target is not None:
            raise ValueError(f"target applies to shape 'part' only; shape {self.shape!r} covers min_cover of the "
                             "drawn part instead")
        if self.fill != "black":
            raise ValueError(f"fill applies to shapes part and rectangle; shape {self.shape!r} pastes real content")
        if self.shape == "object":
            if not self.objects_dir:
                raise ValueError("shape 'object' needs objects_dir, a folder of cut-outs under ground/ and held/")
            from .donors import object_files

            object_files(self.objects_dir)  # ValueError naming the offending file

    def as_dict(self) -> dict:
        d = asdict(self)
        d["target"] = list(self.target) if self.target else None
        d["rect_sides"] = list(self.rect_sides)
        d["rect_fraction"] = list(self.rect_fraction)
        if self.shape in PASTED_SHAPES:
            for key in ("person_scale", "person_drop", "object_size"):
                d[key] = list(d[key])
        else:
            for key in PASTED_FIELDS:
                del d[key]
        return d


@dataclass(frozen=True)
class Occlusion:
    """The decision for one image: the occluder mask and what it covers."""

    status: Status
    mask: np.ndarray  # bool H x W, all False unless occluded
    parts: tuple[int, ...] = ()
    reason: str = ""
    image_fraction: float = 0.0
    person_fraction: float = 0.0
    side: str = ""  # rectangle occluders: top, bottom, left or right
    fill_seed: int = 0  # draws the noise / texture of the fill
    donor: str = ""  # pasted shapes: the donor's relpath, or the object's file under objects_dir
    part_covered: float | None = None  # pasted shapes: share of the drawn part covered (0..1)
    layer: np.ndarray | None = None  # pasted shapes: H x W x 3 uint8 RGB content to paste ...
    alpha: np.ndarray | None = None  # ... with this H x W opacity in [0, 1] (0 off the occluder)

    @property
    def part(self) -> int | None:
        return self.parts[0] if self.parts else None

    @property
    def part_name(self) -> str:
        """What the occluder covers: ``torso``, ``head+torso``, or ``rect_top`` for a rectangle."""
        if self.side:
            return f"rect_{self.side}"
        return "+".join(PARTS[p] for p in self.parts)


class Occluder:
    """Draws and applies one occluder: the paper's body-part blob, the rectangle baseline, or a
    pasted one (another person, a piece of scene, an object; docs/occluders.md).

    ``donors``: the ``DonorBank`` of the dataset, needed by shapes person and scene (they then also
    need the ``target`` in ``plan``); shape object reads ``params.objects_dir`` itself.

    >>> occluder = Occluder(OcclusionParams())
    >>> parts = np.zeros((64, 32), np.uint8); parts[8:20, 10:20] = 1; parts[20:60, 8:24] = 2
    >>> image = np.full((64, 32, 3), 200, np.uint8)
    >>> out, occ = occluder(image, parts, image_rng(0, "a.jpg"))
    >>> occ.status.value, bool((out[occ.mask] == 0).all())
    ('occluded', True)
    """

    def __init__(self, params: OcclusionParams | None = None, donors=None):
        self.params = params or OcclusionParams()
        self.donors = donors  # a donors.DonorBank: needed by shapes person and scene
        self._objects = None
        if self.params.shape in DONOR_SHAPES and donors is None:
            raise ValueError(f"shape {self.params.shape!r} needs a donor bank (occlusion.DonorBank) of the dataset's "
                             "images and their part maps")

    @property
    def objects(self):
        """The object bank of shape ``object`` (read from ``objects_dir`` on first use)."""
        if self._objects is None:
            from .donors import ObjectBank

            self._objects = ObjectBank(self.params.objects_dir)
        return self._objects

    # -- the decision ----------------------------------------------------------------------
    def plan(self, part_map: np.ndarray, rng: np.random.Generator, target=None,
             order: tuple[int, ...] | None = None) -> Occlusion:
        """Choose what to cover and build the occluder mask (no pixels of the image touched).

        ``target`` (anything with ``relpath``, ``split`` and ``pid``, such as a layout ``Record``)
        is the image being occluded: shapes person and scene need it to draw a donor of another
        identity; the other shapes ignore it.

        ``order`` (video, ``--per tracklet``): a preference order of the six parts drawn once per
        tracklet (``tracklet_order``). The part(s) covered are then the first present ones in that
        order (``paper`` part choice: the first ``num_parts`` of it, absent or not), and with a
        ``target`` range the order is the first one tried; everything else still comes from ``rng``.
        """
        p = self.params
        present = F.present_parts(part_map, p.min_part_fraction)
        if order is not None and p.shape != "rectangle":
            return self._plan_in_order(part_map, present, rng, target, tuple(int(x) for x in order))
        if p.shape in PASTED_SHAPES:
            return self._plan_pasted(part_map, present, rng, target)
        if p.shape == "rectangle":
            side = p.rect_sides[int(rng.integers(len(p.rect_sides)))]
            depth = float(rng.uniform(*p.rect_fraction))
            mask = F.rectangle_mask((part_map.shape[0], part_map.shape[1]), side, depth)
            image_fraction, person_fraction = F.coverage(mask, part_map)
            reason = "" if present else "no body part in the part map; rectangle placed anyway"
            return Occlusion(OCCLUDED, mask, (), reason, image_fraction, person_fraction, side, _fill_seed(rng))
        if not present:
            return no_person(part_map.shape)
        if p.part_choice == "paper":
            drawn = [int(x) for x in rng.choice(BODY_PARTS, size=p.num_parts, replace=False)]
            kept = [x for x in drawn if x in present]
            if not kept:
                return paper_absent(part_map.shape, drawn)
            return self._finish(part_map, tuple(kept), rng)
        if p.target is None:
            k = min(p.num_parts, len(present))
            chosen = tuple(int(x) for x in rng.choice(present, size=k, replace=False))
            return self._finish(part_map, chosen, rng)
        return self._with_target(part_map, present, rng)

    def _plan_in_order(self, part_map, present, rng, target, order) -> Occlusion:
        """``plan`` with the part(s) taken from a tracklet's preference order."""
        p = self.params
        if sorted(order) != list(BODY_PARTS):
            raise ValueError(f"order must be a permutation of the body parts {BODY_PARTS}, got {order}")
        if not present:
            return no_person(part_map.shape)
        if p.part_choice == "paper":
            drawn = order[: p.num_parts]
            parts = tuple(x for x in drawn if x in present)
            if not parts:
                return paper_absent(part_map.shape, drawn)
        else:
            parts = tuple(x for x in order if x in present)[: p.num_parts]
        if p.shape in PASTED_SHAPES:
            return self._plan_pasted(part_map, present, rng, target, tuple(sorted(parts)))
        if p.target is not None:
            return self._with_target(part_map, present, rng, [x for x in order if x in present])
        return self._finish(part_map, parts, rng)

    def _coarse(self, part_map: np.ndarray, parts: tuple[int, ...]) -> np.ndarray:
        p = self.params
        return F.coarsen(F.part_mask(part_map, parts), p.pool_levels, p.pool_kernel, p.threshold)

    def _finish(self, part_map, parts, rng, mask=None) -> Occlusion:
        mask = self._coarse(part_map, parts) if mask is None else mask
        image_fraction, person_fraction = F.coverage(mask, part_map)
        return Occlusion(OCCLUDED, mask, tuple(sorted(parts)), "", image_fraction, person_fraction, "", _fill_seed(rng))

    def _with_target(self, part_map, present, rng, first_order=None) -> Occlusion:
        """``--target``: the band search over orders of the present parts drawn from ``rng``, from
        ``num_parts`` parts on; ``first_order``, when given, is tried first (a tracklet's order)."""
        def orders():
            for attempt in range(self.params.max_draws):
                first = attempt == 0 and first_order is not None
                yield list(first_order) if first else [int(x) for x in rng.permutation(present)]

        return self.in_band(part_map, orders(), rng, self.params.num_parts)

    def in_band(self, part_map, orders: Iterable[list[int]], rng, fewest: int) -> Occlusion:
        """The draw of ``orders`` in the ``target`` band or closest to it (``band.closest_draw``)."""
        assert self.params.target is not None, "called when a target is set"
        parts, mask = closest_draw(orders, partial(self._coarse, part_map), part_map, self.params.target, fewest)
        return self._finish(part_map, parts, rng, mask)

    # -- the pixels ------------------------------------------------------------------------
    def apply(self, image: np.ndarray, occlusion: Occlusion) -> np.ndarray:
        """The image with the occluder fused in (a copy; the input is not modified). Works on H x W
        or H x W x C images of uint8 or uint16; an alpha channel is made opaque under the occluder."""
        if occlusion.status != OCCLUDED or not occlusion.mask.any():
            return image.copy()
        p, mask = self.params, occlusion.mask
        if mask.shape != image.shape[:2]:
            raise ValueError(f"occluder mask {mask.shape} does not match image {image.shape[:2]}")
        has_alpha = image.ndim == 3 and image.shape[2] in (2, 4)
        if occlusion.layer is not None:  # a pasted occluder: real content with a soft edge
            assert occlusion.alpha is not None, "a pasted layer comes with its alpha"
            return F.paste_layer(image, occlusion.layer, occlusion.alpha, has_alpha)
        colour = image[..., :-1] if has_alpha else image
        filled = FILLS[p.fill](colour, mask, p, occlusion.fill_seed)
        return F.opaque_under(image, filled, mask) if has_alpha else filled

    def __call__(self, image: np.ndarray, part_map: np.ndarray, rng: np.random.Generator, target=None):
        occlusion = self.plan(part_map, rng, target)
        return self.apply(image, occlusion), occlusion

    # -- pasted shapes: person, scene, object ------------------------------------------------
    def _plan_pasted(self, part_map, present, rng, target, parts=None) -> Occlusion:
        """Draw the part(s) as shape ``part`` does (unless ``parts`` is given), then let ``pasted``
        place the person, scene or object over them; ``not_covered`` if no placement covers
        ``min_cover`` of the drawn part."""
        p = self.params
        if not present:
            return no_person(part_map.shape)
        if parts is not None:
            pass
        elif p.part_choice == "paper":
            drawn = tuple(int(x) for x in rng.choice(BODY_PARTS, size=p.num_parts, replace=False))
            parts = tuple(sorted(x for x in drawn if x in present))
            if not parts:
                return paper_absent(part_map.shape, drawn)
        else:
            k = min(p.num_parts, len(present))
            parts = tuple(sorted(int(x) for x in rng.choice(present, size=k, replace=False)))
        objects = self.objects if p.shape == "object" else None
        found = pasted.place(p, part_map, parts, rng, target, self.donors, objects)
        if isinstance(found, str):
            return Occlusion(NOT_COVERED, np.zeros(part_map.shape, bool), parts, found)
        mask = found.alpha > 0
        image_fraction, person_fraction = F.coverage(mask, part_map)
        return Occlusion(OCCLUDED, mask, parts, "", image_fraction, person_fraction, donor=found.donor,
                         part_covered=found.covered, layer=found.layer, alpha=found.alpha)


def no_person(shape: tuple[int, ...]) -> Occlusion:
    """No body part in the part map: nothing to cover, the image keeps its pixels."""
    return Occlusion(NO_PERSON, np.zeros(shape, bool), reason="no body part in the part map")


def paper_absent(shape: tuple[int, ...], drawn) -> Occlusion:
    """``paper`` part choice: none of the part(s) drawn over all six is present; the image keeps its pixels."""
    names = "+".join(PARTS[x] for x in drawn)
    return Occlusion(PART_ABSENT, np.zeros(shape, bool), tuple(drawn), f"drawn part {names} absent (paper part choice)")


def _fill_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(1 << 62))
