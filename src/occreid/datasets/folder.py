"""Any tree of images, without labels (chosen with ``--layout folder``, never detected)."""

from __future__ import annotations

from pathlib import Path

from .base import Layout
from .records import IMAGE_EXTENSIONS, Dataset, Record


class Folder(Layout):
    """Any tree of images (by extension); relative paths are mirrored; no labels.

    The split is the top-level folder of each image (``.`` for images at the root).
    """

    name = "folder"
    title = "folder"
    expected = "folder: any tree of images (chosen with --layout folder, never detected)"

    def matches(self, root: Path) -> bool:
        return False  # only by explicit choice

    def record(self, relpath: str) -> Record | None:
        if Path(relpath).suffix.lower() not in IMAGE_EXTENSIONS:
            return None
        return Record(relpath, relpath.split("/", 1)[0] if "/" in relpath else ".")

    def no_protocol_reason(self, dataset: Dataset) -> str:
        return "the folder layout has no evaluation protocol in occreid: its images have no identity labels"
