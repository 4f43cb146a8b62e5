"""LaST (Shu et al., 2021), read as CAL / Simple-CCReID's ``LaST`` (and LaST's own loader) reads it."""

from __future__ import annotations

from pathlib import Path

from .base import CAMERA_PER_IMAGE, GENERAL, Layout, Protocol
from .records import Dataset, Record

#: folder (relative to the root) -> (split, person sub-folders?)
FOLDERS = {"train": ("train", True), "val/query": ("val-query", False), "val/gallery": ("val-gallery", True),
           "test/query": ("test-query", False), "test/gallery": ("test-gallery", True)}


class LaST(Layout):
    """LaST: ``train/PID/*.jpg``, ``val/query/*.jpg``, ``val/gallery/PID/*.jpg``, ``test/`` alike.

    pid = the file name's first ``_`` field. Train clothes key = first and last fields joined with
    ``_`` (LaST gives no clothes labels for val and test: None there). LaST has no camera labels:
    every image is its own camera (CAL numbers gallery cameras after the queries'), so only the
    query image itself could be junk and every same-pid gallery image is a true match.
    Settings: ``val`` and ``test``, general rule. The public loaders pick the flat or the
    per-person glob by testing whether ``query`` occurs in the folder's FULL path.
    """

    name = "last"
    title = "LaST"
    expected = "last: train/PID/*.jpg, val/{query,gallery}/, test/{query,gallery}/"
    roles = {"train": "train", "val-query": "query", "val-gallery": "gallery", "test-query": "query",
             "test-gallery": "gallery"}
    test_splits = ("test-query", "test-gallery")

    def matches(self, root: Path) -> bool:
        return all((root / folder).is_dir() for folder in FOLDERS)

    def record(self, relpath: str) -> Record | None:
        parts = relpath.split("/")
        if not parts[-1].endswith(".jpg"):
            return None
        folder = "/".join(parts[:1] if parts[0] == "train" else parts[:2])
        if folder not in FOLDERS:
            return None
        split, nested = FOLDERS[folder]
        if len(parts) != len(folder.split("/")) + (2 if nested else 1):
            return None
        names = parts[-1].split(".")[0].split("_")
        if not names[0].isdigit():
            return None
        clothes = f"{names[0]}_{names[-1]}" if split == "train" else None
        return Record(relpath, split, int(names[0]), None, clothes)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        def split(name: str):
            return lambda r: r.split == name

        return [Protocol(part, GENERAL, split(f"{part}-query"), split(f"{part}-gallery"), camera=CAMERA_PER_IMAGE)
                for part in ("val", "test")]

    def path_hazard(self, out_root: str) -> str | None:
        if "query" in out_root:
            return (f"the public LaST loaders (CAL, LaST's own) glob a folder flat when 'query' occurs anywhere in "
                    f"its full path, so under {out_root} they would find no train or gallery image. "
                    "Choose an output folder whose path does not contain 'query'.")
        return None
