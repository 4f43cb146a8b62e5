"""What a layout yields: one record per image, labelled by the public loaders' rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Extensions the generic folder layout treats as images.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

#: The folder under an output root where occreid keeps its manifest, state and side outputs.
#: Layouts skip it, so an output can itself be read as a dataset.
STATE_DIR = "_occreid"


@dataclass(frozen=True, order=True)
class Record:
    """One image of a dataset.

    ``relpath`` is relative to the dataset root with forward slashes; ``split`` is the folder the
    image belongs to as it is named on disk (``train``, ``query``, ``test``, ``bounding_box_test``...).
    ``pid`` and ``camera`` follow the public loaders (camera is 0-based); ``clothes`` is the outfit
    key (``"094_1"`` in LTCC, ``"003_AB"`` / ``"003_C"`` in PRCC) or None where the layout has none.
    """

    relpath: str
    split: str
    pid: int | None = None
    camera: int | None = None
    clothes: str | None = None

    def labels(self) -> tuple[int | None, int | None, str | None]:
        return (self.pid, self.camera, self.clothes)


@dataclass(frozen=True)
class Dataset:
    """A dataset read from disk: its root, layout name, image records and the other files in it."""

    root: Path
    layout: str
    records: tuple[Record, ...]
    other_files: tuple[str, ...]  # relpaths of files that are not records (copied unchanged)

    def splits(self) -> list[str]:
        return sorted({r.split for r in self.records})
