"""P-DukeMTMC-reID (Zhuo et al., ICME 2018; the split of PVPM, Gao et al., CVPR 2020), read as BPBReID's / PVPM's
``PDukemtmcReid`` reads it."""

from __future__ import annotations

from pathlib import Path

from .base import GENERAL, Protocol, first_name
from .records import Dataset, Record
from .subfolders import SubfolderLayout, leading_pid

WHOLE, OCCLUDED = "whole_body_images", "occluded_body_images"


class PDukeMTMCreID(SubfolderLayout):
    """P-DukeMTMC-reID: ``{train,test}/{whole_body_images,occluded_body_images}/PPPP/*.jpg``.

    The root is ``P-DukeMTMC-reID/`` or holds it. The loader globs ``*/*.jpg`` in each folder and
    reads pid = the file name's field before the first ``_``; the camera is the folder's
    (occluded 0, whole-body 1), not the file name's. Training uses both train folders; test
    occluded images query the test whole-body gallery. Setting: general (cameras always differ).
    """

    name = "p-duke"
    title = "P-DukeMTMC-reID"
    expected = "p-duke: train/ and test/ each holding whole_body_images/PPPP/*.jpg and occluded_body_images/PPPP/*.jpg"
    roles = {"train": "train"}  # test images are queries or gallery by folder: see role()
    subfolders = ("", "P-DukeMTMC-reID/")

    def holds(self, base: Path) -> bool:
        folders = [base / s / f for s in ("train", "test") for f in (WHOLE, OCCLUDED)]
        return all(f.is_dir() for f in folders) and any(first_name(f, ".jpg", 1) for f in folders)

    def record(self, relpath: str) -> Record | None:
        parts = self.below_prefix(relpath)
        if parts is None or len(parts) != 4 or parts[0] not in ("train", "test") or parts[1] not in (WHOLE, OCCLUDED):
            return None
        pid = leading_pid(parts[3]) if parts[3].endswith(".jpg") else None
        return None if pid is None else Record(relpath, parts[0], pid, 0 if parts[1] == OCCLUDED else 1)

    def role(self, record: Record) -> str | None:
        if record.split != "test":
            return "train"
        return "query" if record.camera == 0 else "gallery"

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == "test" and r.camera == 0,
                         lambda r: r.split == "test" and r.camera == 1)]
