"""VC-Clothes (Wan et al., CVPRW 2020), read as CAL / Simple-CCReID's ``VCClothes`` reads it."""

from __future__ import annotations

import re
from pathlib import Path

from .base import GENERAL, Layout, Protocol, first_name
from .records import Dataset, Record

#: CAL's regex, searched in the FULL path: pid, camera, clothes, frame.
PATTERN = re.compile(r"(\d+)-(\d+)-(\d+)-(\d+)")
NAME = re.compile(r"^\d+-\d+-\d+-\d+\.jpg$")


class VCClothes(Layout):
    """VC-Clothes: flat ``train/``, ``query/``, ``gallery/`` of ``PPPP-CC-KK-FFFF.jpg``.

    pid, camera (1-4, stored C-1) and clothes from ``(\\d+)-(\\d+)-(\\d+)-(\\d+)``; the clothes key
    is pid and clothes digits joined, as CAL forms it (``"0001" + "02"``). Settings, CAL's three
    loaders: general (every camera), same-clothes (``vcclothes_sc``: cameras 2 and 3 only) and
    cloth-changing (``vcclothes_cc``: cameras 3 and 4 only), each with the general rule.
    """

    name = "vcclothes"
    title = "VC-Clothes"
    expected = "vcclothes: train/, query/, gallery/ holding PPPP-CC-KK-FFFF.jpg"
    roles = {"train": "train", "query": "query", "gallery": "gallery"}
    path_rule = ("CAL's VC-Clothes regex (\\d+)-(\\d+)-(\\d+)-(\\d+) takes its labels from the first match in "
                 "the whole path, so no folder name on the path may hold four numbers joined by '-' (such as "
                 "2024-01-02-03)")
    test_splits = ("query", "gallery")

    def matches(self, root: Path) -> bool:
        if not all((root / s).is_dir() for s in self.roles):
            return False
        name = first_name(root / "train", ".jpg") or first_name(root / "query", ".jpg")
        return name is not None and bool(NAME.match(name))

    def record(self, relpath: str) -> Record | None:
        return self.role_folder_record(relpath, ".jpg")

    def loader_labels(self, full_path: str) -> tuple | None:
        m = PATTERN.search(full_path)
        if m is None:
            return None
        pid, cam, clothes, _ = m.groups()
        return int(pid), int(cam) - 1, pid + clothes

    def expected_loader_labels(self, record: Record) -> tuple:
        return (record.pid, record.camera, record.clothes)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        def within(split: str, cameras: tuple[int, ...] | None):
            return lambda r: r.split == split and (cameras is None or r.camera in cameras)

        return [
            Protocol(GENERAL, GENERAL, within("query", None), within("gallery", None)),
            Protocol("same-clothes", GENERAL, within("query", (1, 2)), within("gallery", (1, 2)),
                     note="cameras 2 and 3 (CAL's vcclothes_sc)"),
            Protocol("cloth-changing", GENERAL, within("query", (2, 3)), within("gallery", (2, 3)),
                     note="cameras 3 and 4 (CAL's vcclothes_cc)"),
        ]
