"""LTCC (Qian et al., ACCV 2020), read as CAL / Simple-CCReID's ``data/datasets/ltcc.py`` reads it."""

from __future__ import annotations

import re
from pathlib import Path

from .base import CLOTH_CHANGING, GENERAL, SAME_CLOTHES, Layout, Protocol
from .records import Dataset, Record

#: CAL's two regexes, searched in the FULL path by the public loaders.
ID_PATTERN = re.compile(r"(\d+)_(\d+)_c(\d+)")
CLOTHES_PATTERN = re.compile(r"(\w+)_c")


class LTCC(Layout):
    """LTCC: flat ``train/``, ``query/``, ``test/`` (the gallery) of ``PPP_K_cC_FFFFFF.png``.

    pid and camera from ``(\\d+)_(\\d+)_c(\\d+)`` (camera C-1); clothes key the match of
    ``(\\w+)_c`` (``PPP_K``). Files globbed ``*.png``; ``info/`` and the rest copied unchanged.
    Settings (CAL's ``test``): general, cloth-changing and same-clothes, query/ against test/.
    """

    name = "ltcc"
    title = "LTCC"
    expected = "ltcc: train/, query/, test/ holding PPP_K_cC_FFFFFF.png"
    roles = {"train": "train", "query": "query", "test": "gallery"}
    test_splits = ("query", "test")
    path_rule = ("CAL's LTCC loader takes the clothes key from the first match of (\\w+)_c in the whole path, so no "
                 "folder name on the path may contain '_c' after a letter, digit or underscore (such as occ_cloth), "
                 "nor a run such as 12_3_c4 (its pid regex)")

    def matches(self, root: Path) -> bool:
        return all((root / s).is_dir() for s in self.roles) and any((root / "train").glob("*_c*.png"))

    def record(self, relpath: str) -> Record | None:
        return self.role_folder_record(relpath, ".png")

    def loader_labels(self, full_path: str) -> tuple | None:
        m, c = ID_PATTERN.search(full_path), CLOTHES_PATTERN.search(full_path)
        if m is None or c is None:
            return None
        return int(m.group(1)), int(m.group(3)) - 1, c.group(1)

    def expected_loader_labels(self, record: Record) -> tuple:
        return (record.pid, record.camera, record.clothes)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        q, g = (lambda r: r.split == "query"), (lambda r: r.split == "test")
        return [Protocol(rule, rule, q, g) for rule in (GENERAL, CLOTH_CHANGING, SAME_CLOTHES)]
