"""Occluded-REID (Zhuo et al., "Occluded Person Re-identification", ICME 2018), read as BPBReID's / PVPM's
``OccludedReID`` reads it."""

from __future__ import annotations

from pathlib import Path

from .base import GENERAL, Protocol, first_name
from .records import Dataset, Record
from .subfolders import SubfolderLayout, leading_pid


class OccludedREID(SubfolderLayout):
    """Occluded-REID: ``occluded_body_images/PPP/PPP_NN.tif`` (queries) and ``whole_body_images/PPP/PPP_NN.tif``
    (gallery), 200 identities with 5 occluded and 5 whole-body images each; no training split.

    The root is ``Occluded_REID/`` or holds it. The loader globs ``*/*.tif`` in each folder and reads
    pid = the file name's field before the first ``_``; camera 0 for every query, 1 for every
    gallery image (no camera labels exist). Setting: general (cameras always differ, so nothing is
    junk): occluded queries against whole-body galleries. Reported after training on Market-1501.
    """

    name = "occluded-reid"
    title = "Occluded-REID"
    expected = "occluded-reid: occluded_body_images/PPP/*.tif and whole_body_images/PPP/*.tif"
    query_folder = "occluded_body_images"
    gallery_folder = "whole_body_images"
    suffix = ".tif"
    depth = 1  # person folders between the split folder and the image
    subfolders = ("", "Occluded_REID/")

    def __init__(self):
        self.roles = {self.query_folder: "query", self.gallery_folder: "gallery"}
        self.test_splits = (self.query_folder, self.gallery_folder)

    def holds(self, base: Path) -> bool:
        return all((base / f).is_dir() for f in self.roles) and any(
            first_name(base / f, self.suffix, self.depth) for f in self.roles)

    def record(self, relpath: str) -> Record | None:
        parts = self.below_prefix(relpath)
        if parts is None or len(parts) != self.depth + 2 or parts[0] not in self.roles:
            return None
        if not parts[-1].endswith(self.suffix):
            return None
        pid = leading_pid(parts[-1])
        return None if pid is None else Record(relpath, parts[0], pid, 0 if parts[0] == self.query_folder else 1)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == self.query_folder,
                         lambda r: r.split == self.gallery_folder)]
