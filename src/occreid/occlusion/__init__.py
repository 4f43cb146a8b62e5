"""Occlusion: pure NumPy functions (``functional``) and thin seeded wrappers (``transforms``)."""

from . import functional
from .transforms import (
    NO_PERSON, OCCLUDED, PART_ABSENT, PART_CHOICES, Occlusion, OcclusionParams, PartOccluder, image_rng,
)

__all__ = [
    "functional", "NO_PERSON", "OCCLUDED", "PART_ABSENT", "PART_CHOICES", "Occlusion",
    "OcclusionParams", "PartOccluder", "image_rng",
]
