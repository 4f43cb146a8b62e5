"""Occlusion: pure NumPy functions (``functional``), thin seeded wrappers (``transforms``), named
parameter sets (``presets``)."""

from . import functional
from .presets import PRESETS, preset_params
from .transforms import (
    FILLS, NO_PERSON, OCCLUDED, PART_ABSENT, PART_CHOICES, SHAPES, Occluder, Occlusion, OcclusionParams, image_rng,
)

__all__ = [
    "functional", "PRESETS", "preset_params", "FILLS", "NO_PERSON", "OCCLUDED", "PART_ABSENT", "PART_CHOICES",
    "SHAPES", "Occluder", "Occlusion", "OcclusionParams", "image_rng",
]
