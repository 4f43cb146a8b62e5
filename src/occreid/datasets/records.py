"""What a dataset declaration yields: one record per image, labelled by the public loaders' rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The file extensions occreid takes for images, in the order messages list them: the one list (the
#: folder layout, CCVID's frames, the object cut-outs and, less TIFF, the texture folders read it).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: The same, for membership tests.
IMAGE_EXTENSIONS = frozenset(IMAGE_SUFFIXES)

#: The folder under an output root where occreid keeps its manifest, state and side outputs.
#: Layouts skip it, so an output can itself be read as a dataset.
STATE_DIR = "_occreid"


@dataclass(frozen=True, order=True)
class Record:
    """One image of a dataset.

    ``relpath`` is relative to the dataset root with forward slashes; ``split`` is the part of the
    dataset the image belongs to as the dataset names it (a folder such as ``train``, ``query``,
    ``bounding_box_test``, or for list-file datasets the list, e.g. ``val``). ``pid`` and ``camera``
    are the public loader's numbers (camera 0-based where the loader subtracts one, as most do;
    CCVID's and DeepChange's as CAL reads them; None where the dataset has no cameras: LaST,
    Celeb-reID); ``clothes`` is the outfit key
    (``"094_1"`` in LTCC, ``"003_AB"`` / ``"003_C"`` in PRCC) or None where the dataset has none.
    ``tracklet`` is set on video datasets (MARS, CCVID) and on DeepChange: a key shared by every
    frame of one tracklet and by no other frame, so a generator can occlude a tracklet as a whole.
    """

    relpath: str
    split: str
    pid: int | None = None
    camera: int | None = None
    clothes: str | None = None
    tracklet: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset read from disk: its root, layout name, image records and the other files in it."""

    root: Path
    layout: str
    records: tuple[Record, ...]
    other_files: tuple[str, ...]  # relpaths of files that are not records (copied unchanged)
