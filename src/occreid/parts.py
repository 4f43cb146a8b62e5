"""The Pascal-Person-Part label set, the vocabulary every module shares."""

from __future__ import annotations

#: Label index -> name, as in SCHP's Pascal-Person-Part model and the paper's palette.
PARTS: tuple[str, ...] = (
    "background",
    "head",
    "torso",
    "upper_arms",
    "lower_arms",
    "upper_legs",
    "lower_legs",
)
BACKGROUND = 0
BODY_PARTS: tuple[int, ...] = tuple(range(1, len(PARTS)))
NUM_LABELS = len(PARTS)

#: RGB colours used when a part map is drawn (the Pascal-Person-Part palette of SCHP).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
)

