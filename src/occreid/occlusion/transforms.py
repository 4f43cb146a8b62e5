"""Thin seeded wrappers over ``functional``: they only hold parameters and draw the random choices.

Randomness lives here and only here. Each image gets its own generator derived from
``(seed, relative path)``, so what happens to one image never depends on worker count or order.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..parts import BODY_PARTS, PARTS
from . import functional as F

#: Statuses an occlusion can end in (the writer adds ``error`` and ``not_selected``).
OCCLUDED, PART_ABSENT, NO_PERSON = "occluded", "part_absent", "no_person"

PART_CHOICES = ("present", "paper")
SHAPES = ("part", "rectangle")
FILLS = ("black", "mean", "noise", "blur", "texture")
TEXTURE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def image_rng(seed: int, relpath: str) -> np.random.Generator:
    """The random generator of one image: a function of the run's seed and the image's relpath only."""
    digest = hashlib.sha256(relpath.encode("utf-8")).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words]))


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
            if not self.texture_dir:
                raise ValueError("fill 'texture' needs texture_dir, a folder of object images (bins, cars, umbrellas...)")
            if not _texture_files(str(self.texture_dir)):
                raise ValueError(f"texture_dir {self.texture_dir} holds no images ({', '.join(TEXTURE_EXTENSIONS)})")
        if not 0.0 <= self.min_part_fraction < 1.0:
            raise bad("min_part_fraction", "in [0, 1)")
        sides = tuple(self.rect_sides)
        if not sides or any(s not in F.RECT_SIDES for s in sides):
            raise bad("rect_sides", f"a non-empty subset of {', '.join(F.RECT_SIDES)}")
        object.__setattr__(self, "rect_sides", sides)
        rect = _range(self.rect_fraction, "rect_fraction", 0.0, 1.0)
        if rect[0] <= 0:
            raise ValueError(f"rect_fraction must be above 0, got {self.rect_fraction}")
        object.__setattr__(self, "rect_fraction", rect)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["target"] = list(self.target) if self.target else None
        d["rect_sides"] = list(self.rect_sides)
        d["rect_fraction"] = list(self.rect_fraction)
        return d


@lru_cache(maxsize=8)
def _texture_files(folder: str) -> tuple[Path, ...]:
    root = Path(folder)
    if not root.is_dir():
        return ()
    return tuple(sorted(p for p in root.rglob("*") if p.suffix.lower() in TEXTURE_EXTENSIONS and p.is_file()))


@lru_cache(maxsize=64)
def _texture(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@dataclass(frozen=True)
class Occlusion:
    """The decision for one image: the occluder mask and what it covers."""

    status: str
    mask: np.ndarray  # bool H x W, all False unless occluded
    parts: tuple[int, ...] = ()
    reason: str = ""
    image_fraction: float = 0.0
    person_fraction: float = 0.0
    side: str = ""  # rectangle occluders: top, bottom, left or right
    fill_seed: int = 0  # draws the noise / texture of the fill

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
    """Draws and applies one occluder: the paper's body-part blob or the rectangle baseline.

    >>> occluder = Occluder(OcclusionParams())
    >>> parts = np.zeros((64, 32), np.uint8); parts[8:20, 10:20] = 1; parts[20:60, 8:24] = 2
    >>> image = np.full((64, 32, 3), 200, np.uint8)
    >>> out, occ = occluder(image, parts, image_rng(0, "a.jpg"))
    >>> occ.status, bool((out[occ.mask] == 0).all())
    ('occluded', True)
    """

    def __init__(self, params: OcclusionParams | None = None):
        self.params = params or OcclusionParams()

    # -- the decision ----------------------------------------------------------------------
    def plan(self, part_map: np.ndarray, rng: np.random.Generator) -> Occlusion:
        """Choose what to cover and build the occluder mask (no pixels touched)."""
        p = self.params
        empty = np.zeros(part_map.shape, bool)
        present = F.present_parts(part_map, p.min_part_fraction)
        if p.shape == "rectangle":
            side = p.rect_sides[int(rng.integers(len(p.rect_sides)))]
            depth = float(rng.uniform(*p.rect_fraction))
            mask = F.rectangle_mask(part_map.shape, side, depth)
            image_fraction, person_fraction = F.coverage(mask, part_map)
            reason = "" if present else "no body part in the part map; rectangle placed anyway"
            return Occlusion(OCCLUDED, mask, (), reason, image_fraction, person_fraction, side, _fill_seed(rng))
        if not present:
            return Occlusion(NO_PERSON, empty, reason="no body part in the part map")
        if p.part_choice == "paper":
            drawn = [int(x) for x in rng.choice(BODY_PARTS, size=p.num_parts, replace=False)]
            kept = [x for x in drawn if x in present]
            if not kept:
                names = "+".join(PARTS[x] for x in drawn)
                return Occlusion(PART_ABSENT, empty, tuple(drawn), f"drawn part {names} absent (paper part choice)")
            return self._finish(part_map, tuple(kept), rng)
        if p.target is None:
            k = min(p.num_parts, len(present))
            chosen = tuple(int(x) for x in rng.choice(present, size=k, replace=False))
            return self._finish(part_map, chosen, rng)
        return self._with_target(part_map, present, rng)

    def _coarse(self, part_map: np.ndarray, parts: tuple[int, ...]) -> np.ndarray:
        p = self.params
        return F.coarsen(F.part_mask(part_map, parts), p.pool_levels, p.pool_kernel, p.threshold)

    def _finish(self, part_map, parts, rng, mask=None) -> Occlusion:
        mask = self._coarse(part_map, parts) if mask is None else mask
        image_fraction, person_fraction = F.coverage(mask, part_map)
        return Occlusion(OCCLUDED, mask, tuple(sorted(parts)), "", image_fraction, person_fraction, "", _fill_seed(rng))

    def _with_target(self, part_map, present, rng) -> Occlusion:
        """Draw orders of the present parts; add parts until the coverage reaches the target,
        accept a draw inside the target, else keep the draw closest to it."""
        lo, hi = self.params.target
        best = None  # (distance, parts, mask)
        for _ in range(self.params.max_draws):
            order = [int(x) for x in rng.permutation(present)]
            for k in range(min(self.params.num_parts, len(order)), len(order) + 1):
                mask = self._coarse(part_map, tuple(order[:k]))
                frac = F.coverage(mask, part_map)[1]
                if frac >= lo:
                    break
            distance = 0.0 if lo <= frac <= hi else min(abs(frac - lo), abs(frac - hi))
            if best is None or distance < best[0]:
                best = (distance, tuple(order[:k]), mask)
            if distance == 0.0:
                break
        return self._finish(part_map, best[1], rng, best[2])

    # -- the pixels ------------------------------------------------------------------------
    def apply(self, image: np.ndarray, occlusion: Occlusion) -> np.ndarray:
        """The image with the occluder fused in (a copy; the input is not modified).

        Works on H x W or H x W x C images of uint8 or uint16; an alpha channel is made opaque
        under the occluder.
        """
        if occlusion.status != OCCLUDED or not occlusion.mask.any():
            return image.copy()
        p, mask = self.params, occlusion.mask
        has_alpha = image.ndim == 3 and image.shape[2] in (2, 4)
        colour = image[..., :-1] if has_alpha else image
        top = np.iinfo(image.dtype).max
        if p.fill == "black":
            filled = F.fuse(colour, mask, 0)
        elif p.fill == "mean":
            filled = F.fuse(colour, mask, F.mean_colour(colour))
        elif p.fill == "blur":
            filled = F.paste(colour, mask, F.box_blur(colour, p.blur_radius))
        elif p.fill == "noise":
            noise = np.random.default_rng(occlusion.fill_seed).integers(0, int(top) + 1, colour.shape, dtype=np.int64)
            filled = F.paste(colour, mask, noise.astype(image.dtype))
        else:
            filled = F.paste(colour, mask, self._texture_layer(colour, mask, occlusion.fill_seed, top))
        if not has_alpha:
            return filled
        out = image.copy()
        out[..., :-1] = filled
        out[..., -1][mask] = top  # the occluder is opaque
        return out

    def _texture_layer(self, colour: np.ndarray, mask: np.ndarray, fill_seed: int, top) -> np.ndarray:
        from PIL import Image

        files = _texture_files(str(self.params.texture_dir))
        rng = np.random.default_rng(fill_seed)
        texture = _texture(files[int(rng.integers(len(files)))])
        y0, x0, y1, x1 = F.mask_box(mask)
        patch = np.asarray(Image.fromarray(texture).resize((x1 - x0, y1 - y0), Image.BILINEAR)).astype(np.float64)
        if colour.ndim == 2 or colour.shape[2] == 1:
            patch = patch @ np.array([0.299, 0.587, 0.114])
            patch = patch if colour.ndim == 2 else patch[..., None]
        layer = np.zeros(colour.shape, np.float64)
        layer[y0:y1, x0:x1] = patch * (top / 255.0)
        return np.round(layer).astype(colour.dtype)

    def __call__(self, image: np.ndarray, part_map: np.ndarray, rng: np.random.Generator):
        occlusion = self.plan(part_map, rng)
        return self.apply(image, occlusion), occlusion


def _fill_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(1 << 62))
