"""What every parser gives: an RGB image in, a 7-label Pascal-Person-Part map out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParseResult:
    """A part map (H x W uint8, labels 0..6, see ``occreid.parts``) or None with the reason.

    ``parts`` is None when the parser finds no plausible person ("no person": an empty crop, a van,
    a collapsed skeleton); ``reason`` then says why in a few words.
    """

    parts: np.ndarray | None
    reason: str = ""


class Parser:
    """Base class of the parsers. Subclasses implement ``parse``; ``parse_batch`` may be faster.

    A parser is built once per worker process and reused for every image it handles.
    """

    #: Short name recorded in the manifest (``mediapipe``, ``schp``).
    name: str = ""

    def parse(self, rgb: np.ndarray) -> ParseResult:
        """Parse one H x W x 3 uint8 RGB image."""
        raise NotImplementedError

    def parse_batch(self, images: list[np.ndarray]) -> list[ParseResult]:
        """Parse several images (of any sizes); the default parses them one at a time."""
        return [self.parse(im) for im in images]

    def close(self) -> None:
        """Release what the parser holds (models, threads)."""
