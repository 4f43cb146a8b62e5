"""What every parser gives: an RGB image in, a 7-label Pascal-Person-Part map out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OccreidError


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


class ParserError(OccreidError, ValueError):
    """A parser that cannot be built as asked (unknown name, a package missing, its constructor
    failed): one sentence, before the first image (exit 2)."""


class Parser:
    """Base class of the parsers. Subclasses implement ``parse``; ``parse_batch`` may be faster.

    A parser is built once per worker process and reused for every image it handles. What it
    needs is declared on the class (timm's way: the factory ``occreid.parser.make_parser`` reads
    it, and the CLI, the checks before the first image, the workers and the engines ask the class
    instead of naming parsers):
    """

    #: Short name recorded in the manifest (``mediapipe``, ``mediapipe-graph``, ``schp``).
    name: str = ""
    #: The packages it needs, as (import name, pip requirement): checked, not imported, before the first image.
    requires: tuple[tuple[str, str], ...] = ()
    #: ``generate``'s parser options it takes (``--checkpoint``, ``--device``, ``--batch-size``), and those it
    #: cannot do without; ``options_from_cli`` turns them into its constructor's keyword arguments.
    cli_options: tuple[str, ...] = ()
    cli_required: tuple[str, ...] = ()
    #: Built once in the main process before the first image (a checkpoint to load, a plugin's constructor to
    #: try). False: only its packages are checked there and each worker builds its own when it first parses,
    #: so a run that reuses saved part maps never loads the model, and the pool may fork.
    prebuild: bool = True
    #: Takes ``threads`` (its intra-op threads): a worker gets its share of the cores, a Ray CPU actor one.
    takes_threads: bool = False
    #: Runs on a ``device`` that may be a GPU: Ray actors ask for one when the device is CUDA.
    uses_gpu: bool = False

    @classmethod
    def options_from_cli(cls, given: dict) -> dict:
        """Its constructor's options from ``generate``'s parser options ``given`` (None: not given);
        ParserError naming the option when one is missing or does not apply."""
        if any(v is not None for v in given.values()):
            raise ParserError("--checkpoint, --device and --batch-size apply to --parser schp (and --checkpoint to "
                              "mediapipe-movenet) only.")
        return {}

    def parse(self, rgb: np.ndarray) -> ParseResult:
        """Parse one H x W x 3 uint8 RGB image."""
        raise NotImplementedError

    def parse_batch(self, images: list[np.ndarray]) -> list[ParseResult]:
        """Parse several images (of any sizes); the default parses them one at a time."""
        return [self.parse(im) for im in images]

    def close(self) -> None:
        """Release what the parser holds (models, threads)."""
