"""Occlusion: pure NumPy functions (``functional``), thin seeded wrappers (``transforms``), named
parameter sets (``presets``), and where pasted occluders come from (``donors``)."""

from . import functional
from .donors import Candidate, Donor, DonorBank, ObjectBank, SceneObject
from .presets import PRESETS, preset_params
from .transforms import (
    DONOR_SPLITS, FILLS, NO_PERSON, NOT_COVERED, OCCLUDED, PART_ABSENT, PART_CHOICES, PASTED_SHAPES, SHAPES, Occluder,
    Occlusion, OcclusionParams, image_rng, tracklet_order,
)

__all__ = [
    "functional", "Candidate", "Donor", "DonorBank", "ObjectBank", "SceneObject", "PRESETS", "preset_params",
    "DONOR_SPLITS", "FILLS", "NO_PERSON", "NOT_COVERED", "OCCLUDED", "PART_ABSENT", "PART_CHOICES", "PASTED_SHAPES",
    "SHAPES", "Occluder", "Occlusion", "OcclusionParams", "image_rng", "tracklet_order",
]
