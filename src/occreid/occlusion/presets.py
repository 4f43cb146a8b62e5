"""Named parameter sets for ``occreid generate --preset NAME``; options given with it override."""

from __future__ import annotations

from .transforms import OcclusionParams

#: name -> (one-line description, the OcclusionParams fields it sets)
PRESETS: dict[str, tuple[str, dict]] = {
    "default": (
        "the paper's occluder, guaranteed on the person: one part drawn among those present, "
        "four 2x2 pools, any-overlap cells, black",
        {},
    ),
    "paper": (
        "the paper's procedure exactly: one part drawn uniformly over all six (an absent part leaves "
        "the image untouched), four 2x2 pools, black",
        {"part_choice": "paper"},
    ),
    "hard": (
        "more of the person covered: two or more parts, redrawn until 40-75 % of the person's pixels "
        "are covered",
        {"num_parts": 2, "target": (0.40, 0.75)},
    ),
    "rectangle": (
        "the earlier rectangle baseline (Feng et al., Occluded-SYSU-MM01 / Occluded-RegDB): a black "
        "full-span rectangle at the top, bottom, left or right, 25-50 % deep",
        {"shape": "rectangle"},
    ),
    "person": (
        "another pedestrian of the same split, of another identity, cut out by its own part map and "
        "pasted with a soft edge over at least half of the drawn part",
        {"shape": "person"},
    ),
    "scene": (
        "background from another image of the same split, shaped by the coarsened part mask, as if "
        "the scene stood in front of the person",
        {"shape": "scene"},
    ),
}


def preset_params(name: str, **overrides) -> OcclusionParams:
    """The parameters of preset ``name`` with ``overrides`` (None values ignored) applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    fields = dict(PRESETS[name][1])
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return OcclusionParams(**fields)
