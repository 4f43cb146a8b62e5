"""Thin seeded wrappers over ``functional``: they only hold parameters and draw the random choices.

Randomness lives here and only here. Each image gets its own generator derived from
``(seed, relative path)``, so what happens to one image never depends on worker count or order.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from ..parts import PARTS
from . import functional as F

#: Statuses an occlusion can end in (the writer adds ``error`` for unreadable images).
OCCLUDED, PART_ABSENT, NO_PERSON = "occluded", "part_absent", "no_person"

PART_CHOICES = ("present", "paper")


def image_rng(seed: int, relpath: str) -> np.random.Generator:
    """The random generator of one image: a function of the run's seed and the image's relpath only."""
    digest = hashlib.sha256(relpath.encode("utf-8")).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words]))


@dataclass(frozen=True)
class OcclusionParams:
    """Everything that decides an occluder, validated when built.

    part_choice: ``present`` draws uniformly over the parts present in the image, so every image
        with a person is occluded; ``paper`` draws uniformly over all six parts as the paper does,
        and an absent part leaves the image untouched (status ``part_absent``).
    pool_levels, pool_kernel: the coarsening, ``pool_levels`` successive ``pool_kernel`` x
        ``pool_kernel`` average pools (the paper: four 2x2 pools, 16-pixel cells).
    threshold: a coarse cell is occluded when its pooled mean exceeds this (0 = any overlap).
    fill: the occluder's value per channel (0 = black, the paper's).
    min_part_fraction: a part counts as present when it has at least this fraction of the
        person's pixels.
    """

    part_choice: str = "present"
    pool_levels: int = 4
    pool_kernel: int = 2
    threshold: float = 0.0
    fill: int = 0
    min_part_fraction: float = 0.02

    def __post_init__(self) -> None:
        if self.part_choice not in PART_CHOICES:
            raise ValueError(f"part_choice must be one of {', '.join(PART_CHOICES)}, got {self.part_choice!r}")
        if not 0 <= self.pool_levels <= 8:
            raise ValueError(f"pool_levels must be in 0..8, got {self.pool_levels}")
        if not 1 <= self.pool_kernel <= 8:
            raise ValueError(f"pool_kernel must be in 1..8, got {self.pool_kernel}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        if not 0 <= self.fill <= 255:
            raise ValueError(f"fill must be in 0..255, got {self.fill}")
        if not 0.0 <= self.min_part_fraction < 1.0:
            raise ValueError(f"min_part_fraction must be in [0, 1), got {self.min_part_fraction}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Occlusion:
    """The decision for one image: the occluder mask and what it covers."""

    status: str
    mask: np.ndarray  # bool H x W, all False unless occluded
    part: int | None = None
    reason: str = ""
    image_fraction: float = 0.0
    person_fraction: float = 0.0

    @property
    def part_name(self) -> str:
        return PARTS[self.part] if self.part is not None else ""


class PartOccluder:
    """The paper's body-part occluder: draw a part, coarsen its mask, fill it.

    >>> occluder = PartOccluder(OcclusionParams())
    >>> parts = np.zeros((64, 32), np.uint8); parts[8:20, 10:20] = 1; parts[20:60, 8:24] = 2
    >>> image = np.full((64, 32, 3), 200, np.uint8)
    >>> out, occ = occluder(image, parts, image_rng(0, "a.jpg"))
    >>> occ.status, bool((out[occ.mask] == 0).all())
    ('occluded', True)
    """

    def __init__(self, params: OcclusionParams | None = None):
        self.params = params or OcclusionParams()

    def plan(self, part_map: np.ndarray, rng: np.random.Generator) -> Occlusion:
        """Choose the part and build the occluder mask (no pixels touched)."""
        p = self.params
        empty = np.zeros(part_map.shape, bool)
        present = F.present_parts(part_map, p.min_part_fraction)
        if not present:
            return Occlusion(NO_PERSON, empty, reason="no body part in the part map")
        if p.part_choice == "paper":
            part = F.choose_part(rng, range(1, len(PARTS)))
            if part not in present:
                return Occlusion(PART_ABSENT, empty, part, f"drawn part {PARTS[part]} absent (paper part choice)")
        else:
            part = F.choose_part(rng, present)
        mask = F.coarsen(F.part_mask(part_map, part), p.pool_levels, p.pool_kernel, p.threshold)
        image_fraction, person_fraction = F.coverage(mask, part_map)
        return Occlusion(OCCLUDED, mask, part, "", image_fraction, person_fraction)

    def apply(self, image: np.ndarray, occlusion: Occlusion) -> np.ndarray:
        """The image with the occluder fused in (a copy; the input is not modified)."""
        if occlusion.status != OCCLUDED:
            return image.copy()
        fill = self.params.fill
        if image.dtype == np.uint16:
            fill = fill * 257
        return F.fuse(image, occlusion.mask, fill)

    def __call__(self, image: np.ndarray, part_map: np.ndarray, rng: np.random.Generator):
        occlusion = self.plan(part_map, rng)
        return self.apply(image, occlusion), occlusion
