"""Occlusion: pure NumPy functions (``functional``: the maths and the fills), thin seeded wrappers
(``transforms``), the ``--target`` band search (``band``), where a pasted occluder is placed
(``pasted``), named parameter sets (``presets``), where pasted occluders come from (``donors``) and
where the texture fill's images come from (``textures``)."""

from ..status import Status
from . import functional, pasted, textures
from .donors import Candidate, Donor, DonorBank, ObjectBank, SceneObject
from .presets import PRESETS, preset_params
from .seeds import image_rng, relpath_rng, rng_key, tracklet_order
from .transforms import (
    DONOR_SHAPES,
    DONOR_SPLITS,
    FILLS,
    NO_PERSON,
    NOT_COVERED,
    OCCLUDED,
    PART_ABSENT,
    PART_CHOICES,
    PASTED_SHAPES,
    SHAPES,
    Occluder,
    Occlusion,
    OcclusionParams,
)

__all__ = [
    "functional", "pasted", "textures", "Candidate", "Donor", "DonorBank", "ObjectBank", "SceneObject", "PRESETS",
    "preset_params", "DONOR_SHAPES", "DONOR_SPLITS", "FILLS", "NO_PERSON", "NOT_COVERED", "OCCLUDED", "PART_ABSENT",
    "PART_CHOICES", "PASTED_SHAPES", "SHAPES", "Occluder", "Occlusion", "OcclusionParams", "Status", "image_rng",
    "relpath_rng", "rng_key", "tracklet_order",
]
