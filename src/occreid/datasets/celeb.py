"""Celeb-reID and Celeb-reID-light (Huang et al., 2019), read as their public loaders read them."""

from __future__ import annotations

import re
from pathlib import Path

from .base import CAMERA_PER_IMAGE, GENERAL, Layout, Protocol, first_name, parts_at_depth
from .records import Dataset, Record

#: ``x_y_z.jpg``: person, image number, an unused field.
NAME = re.compile(r"^(-?\d+)_(\d+)_(\d+)\.jpg$")
#: the public loaders' regex, searched in the FULL path (the pid is its first group)
ID_PATTERN = re.compile(r"([-\d]+)_(\d)")


class CelebReID(Layout):
    """Celeb-reID: flat ``train/``, ``query/``, ``gallery/`` of ``x_y_z.jpg`` (person, image, unused).

    pid = x; no camera and no clothes labels (most of a celebrity's images show other clothes).
    Every image is its own camera, so every same-pid gallery image is a true match. Setting:
    general. pid -1 images are ignored, as the public loaders do.
    """

    name = "celeb"
    title = "Celeb-reID"
    expected = "celeb: train/, query/, gallery/ holding PID_IMG_Z.jpg (Celeb-reID-light: a folder named *light*)"
    roles = {"train": "train", "query": "query", "gallery": "gallery"}
    path_rule = ("the Celeb-reID regex ([-\\d]+)_(\\d) takes the pid from its first match in the whole path, so "
                 "no folder name on the path may contain a digit or '-' followed by '_' and a digit")
    test_splits = ("query", "gallery")
    light = False

    def matches(self, root: Path) -> bool:
        if not all((root / s).is_dir() for s in self.roles):
            return False
        name = first_name(root / "train", ".jpg") or first_name(root / "query", ".jpg")
        is_light = "light" in root.resolve().name.lower()
        return name is not None and bool(NAME.match(name)) and is_light == self.light

    def record(self, relpath: str) -> Record | None:
        parts = parts_at_depth(relpath, 1, ".jpg")
        if parts is None or parts[0] not in self.roles:
            return None
        m = NAME.match(parts[1])
        return None if m is None else Record(relpath, parts[0], int(m.group(1)))

    def loader_labels(self, full_path: str) -> tuple | None:
        m = ID_PATTERN.search(full_path)
        return None if m is None else (int(m.group(1)),)

    def expected_loader_labels(self, record: Record) -> tuple:
        return (record.pid,)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == "query" and r.pid != -1,
                         lambda r: r.split == "gallery" and r.pid != -1, camera=CAMERA_PER_IMAGE)]


class CelebReIDLight(CelebReID):
    """Celeb-reID-light: Celeb-reID's layout and rules on its smaller split (a root folder named ``*light*``)."""

    name = "celeb-light"
    title = "Celeb-reID-light"
    expected = "celeb-light: as celeb, in a folder whose name contains 'light' (Celeb-reID-light)"
    light = True
