"""CCVID (Gu et al., CVPR 2022), a cloth-changing video benchmark, read as CAL's ``CCVID`` reads it."""

from __future__ import annotations

import os
from pathlib import Path

from .base import CLOTH_CHANGING, GENERAL, SAME_CLOTHES, Layout, LayoutError, Protocol, read_lines
from .records import IMAGE_EXTENSIONS, Dataset, Record

LISTS = {"train.txt": "train", "query.txt": "query", "gallery.txt": "gallery"}


class CCVID(Layout):
    """CCVID: tracklet folders ``sessionS/PPP_CC/`` of frames, listed in ``train.txt``, ``query.txt``,
    ``gallery.txt``.

    Each list line is ``TRACKLET_PATH PID CLOTHES_LABEL`` (white-space separated); every image in
    the tracklet folder is a frame (CAL globs ``*``; sorted). pid = int(PID); clothes key
    ``PID_CLOTHES_LABEL``; camera = the number after the first ``_`` of the tracklet path, plus 12
    in ``session3`` (CAL's camid, not shifted to 0); tracklet = the tracklet path. Settings (CAL's
    ``test``): general, same-clothes and cloth-changing, tracklet against tracklet, each
    tracklet's feature the mean of its frames' (CAL averages its clips' features).
    """

    name = "ccvid"
    title = "CCVID"
    expected = "ccvid: sessionS/PPP_CC/ frame folders with train.txt, query.txt, gallery.txt"
    video = True
    roles = {"train": "train", "query": "query", "gallery": "gallery"}
    test_splits = ("query", "gallery")

    def matches(self, root: Path) -> bool:
        return all((root / f).is_file() for f in LISTS) and any(p.is_dir() for p in root.glob("session*"))

    def record(self, relpath: str) -> Record | None:
        return None

    def index(self, root: Path) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for list_name, split in LISTS.items():
            for line in read_lines(Path(root) / list_name):
                fields = line.split()
                try:
                    tracklet, pid, clothes = fields
                    camera = int(tracklet.split("_")[1]) + (12 if tracklet.split("/")[0] == "session3" else 0)
                    pid_value = int(pid)
                except (ValueError, IndexError):
                    raise LayoutError(f"{Path(root) / list_name}: line {line!r} is not "
                                      "'sessionS/PPP_CC PID CLOTHES'") from None
                folder = Path(root) / tracklet
                if not folder.is_dir():
                    continue
                for name in sorted(os.listdir(folder)):
                    if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                        rel = f"{tracklet}/{name}"
                        out[rel] = Record(rel, split, pid_value, camera, f"{pid}_{clothes}", tracklet)
        return out

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        q, g = (lambda r: r.split == "query"), (lambda r: r.split == "gallery")
        return [Protocol(rule, rule, q, g, video=True) for rule in (GENERAL, SAME_CLOTHES, CLOTH_CHANGING)]
