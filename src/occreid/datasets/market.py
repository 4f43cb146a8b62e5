"""Market-1501 (Zheng et al., ICCV 2015), read as torchreid's ``Market1501`` reads it."""

from __future__ import annotations

import re
from pathlib import Path

from .base import GENERAL, Layout, Protocol, first_name
from .records import Dataset, Record

#: torchreid's regex, searched in the FULL path.
ID_PATTERN = re.compile(r"([-\d]+)_c(\d)")
#: Market-1501's own file names: ``PPPP_cCsS_FFFFFF_BB.jpg`` (DukeMTMC-reID's have no ``sS``).
NAME = re.compile(r"^-?\d+_c\ds\d_\d+_\d+\.jpg$")


class Market1501(Layout):
    """Market-1501: ``bounding_box_train/``, ``bounding_box_test/``, ``query/`` of ``PPPP_cCsS_FFFFFF_BB.jpg``.

    The split folders may sit in the root or in its ``Market-1501-v15.09.15/`` (as torchreid allows).

    pid and camera from ``([-\\d]+)_c(\\d)`` (camera C-1). pid -1 marks junk images, which
    torchreid ignores (here they stay records, so they are occluded, but no list or setting uses
    them); pid 0 marks distractors, kept in the gallery. No clothes labels. Setting: general.
    """

    name = "market"
    title = "Market-1501"
    expected = "market: bounding_box_train/, bounding_box_test/, query/ holding PPPP_cCsS_FFFFFF_BB.jpg"
    roles = {"bounding_box_train": "train", "query": "query", "bounding_box_test": "gallery"}
    test_splits = ("query", "bounding_box_test")
    names = NAME
    #: where the split folders may sit under the root (torchreid's alternative structure)
    subfolders = ("", "Market-1501-v15.09.15/")
    #: torchreid's and fast-reid's ``_junk_pids``: distractors (0) and junk (-1) never become training identities
    junk_pids: tuple[int, ...] = (0, -1)
    path_rule = ("torchreid's regex ([-\\d]+)_c(\\d) takes pid and camera from its first match in the whole path, "
                 "so no folder name on the path may contain a digit or '-' followed by '_c' and a digit")

    def __init__(self):
        self.prefix = ""

    def matches(self, root: Path) -> bool:
        for prefix in self.subfolders:
            base = root / prefix
            if not all((base / s).is_dir() for s in self.roles):
                continue
            name = next((n for n in (first_name(base / s, ".jpg") for s in self.roles) if n is not None), None)
            if name is not None and self.names.match(name):
                self.prefix = prefix
                return True
        return False

    def record(self, relpath: str) -> Record | None:
        return self.role_folder_record(relpath, ".jpg", self.prefix)

    def loader_labels(self, full_path: str) -> tuple | None:
        m = ID_PATTERN.search(full_path)
        return None if m is None else (int(m.group(1)), int(m.group(2)) - 1)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == "query" and r.pid != -1,
                         lambda r: r.split == "bounding_box_test" and r.pid != -1)]
