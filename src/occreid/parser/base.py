"""What every parser gives: an RGB image in, a 7-label Pascal-Person-Part map out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParseResult:
    """A part map (H x W uint8, labels 0..6, see ``occreid.parts``) or None with the reason.

    ``parts`` is None when the parser finds no plausible person ("no person": an empty crop, a van,
    a collapsed skeleton); ``reason`` then says why in a few words. ``source`` says what made the
    map ("pose": landmarks + segmentation, "silhouette": the segmentation and body proportions;
    the runner writes "saved" for maps taken from --parts-from, keeps the recorded source of a run's
    own saved maps, and writes "schp" for SCHP), "" when unknown or
    when there is no map. ``score`` is the pose presence score in [0, 1] where the parser has one.
    ``quality`` is the map's part-quality score in [0, 1] (``quality.part_quality``: how far the map
    can be trusted), None when the parser gives none (the runner then scores the map alone).
    """

    parts: np.ndarray | None
    reason: str = ""
    source: str = ""
    score: float | None = None
    quality: float | None = None


def as_rgb(image: np.ndarray) -> np.ndarray:
    """The input as a C-contiguous H x W x 3 uint8 RGB array (grey and RGBA are accepted);
    TypeError for another dtype, ValueError for another shape."""
    im = np.asarray(image)
    if im.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {im.dtype}")
    if im.ndim == 2:
        im = np.repeat(im[:, :, None], 3, axis=2)
    elif im.ndim == 3 and im.shape[2] == 4:
        im = im[:, :, :3]
    elif im.ndim == 3 and im.shape[2] == 1:
        im = np.repeat(im, 3, axis=2)
    if im.ndim != 3 or im.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {np.asarray(image).shape}")
    return np.ascontiguousarray(im)


class Parser:
    """Base class of the parsers. Subclasses implement ``parse``; ``parse_batch`` may be faster.

    A parser is built once per worker process and reused for every image it handles.
    """

    #: Short name recorded in the manifest (``mediapipe``, ``mediapipe-graph``, ``schp``).
    name: str = ""

    def parse(self, rgb: np.ndarray) -> ParseResult:
        """Parse one H x W x 3 uint8 RGB image."""
        raise NotImplementedError

    def parse_batch(self, images: list[np.ndarray]) -> list[ParseResult]:
        """Parse several images (of any sizes); the default parses them one at a time."""
        return [self.parse(im) for im in images]

    def close(self) -> None:
        """Release what the parser holds (models, threads)."""
