"""MARS (Zheng et al., ECCV 2016), a video benchmark, read as torchreid's ``Mars`` reads it."""

from __future__ import annotations

import re
from pathlib import Path

from .base import GENERAL, Layout, LayoutError, Protocol, parts_at_depth, read_lines
from .records import Dataset, Record

#: ``PPPPcCtTTTTfFFF.jpg``; junk frames carry the person folder ``00-1``.
NAME = re.compile(r"^(\d{4}|00-1)C(\d)T(\d{4})F\d{3}", re.IGNORECASE)
INFO_FILES = ("test_name.txt", "tracks_test_info.mat", "query_IDX.mat")


class MARS(Layout):
    """MARS: ``bbox_train/PPPP/PPPPcCtTTTTfFFF.jpg`` and ``bbox_test/`` alike; ``info/`` holds the split.

    pid = the name's first four characters (``00-1``: junk, pid -1; ``0000``: distractors), camera
    C-1, tracklet = the name up to the frame number (every frame of a tracklet shares it). The
    test query / gallery split is torchreid's: ``info/tracks_test_info.mat`` rows (start, end,
    pid, camera; 1-based into ``info/test_name.txt``) are the test tracklets, ``info/query_IDX.mat``
    (1-based) picks the query rows, every other row is gallery; rows with pid -1 are ignored.
    Setting: general, tracklet against tracklet (frame features averaged). Without ``info/`` the
    dataset is read and occluded but cannot be evaluated.
    """

    name = "mars"
    title = "MARS"
    expected = "mars: bbox_train/PPPP/PPPPcCtTTTTfFFF.jpg, bbox_test/... (info/ for evaluation)"
    video = True
    roles = {"bbox_train": "train"}

    def __init__(self):
        self._split: dict[str, str] = {}  # tracklet -> query / gallery, once info/ was read

    def matches(self, root: Path) -> bool:
        return any((root / s).is_dir() for s in ("bbox_train", "bbox_test")) and not (root / "train").is_dir()

    def record(self, relpath: str) -> Record | None:
        parts = parts_at_depth(relpath, 2, ".jpg")
        if parts is None or parts[0] not in ("bbox_train", "bbox_test"):
            return None
        m = NAME.match(parts[2])
        if m is None:
            return None
        pid = -1 if m.group(1) == "00-1" else int(m.group(1))
        return Record(relpath, parts[0], pid, int(m.group(2)) - 1, None, f"{parts[0]}/{parts[2][:11]}")

    def bind(self, root: Path) -> MARS:
        if all((Path(root) / "info" / f).is_file() for f in INFO_FILES):
            self._split = self.test_split(Path(root))
        return self

    def role(self, record: Record) -> str | None:
        if record.split == "bbox_train":
            return "train"
        return self._split.get(record.tracklet or "")

    @staticmethod
    def test_split(root: Path) -> dict[str, str]:
        """Tracklet key -> ``query`` or ``gallery`` from ``info/`` (torchreid's reading)."""
        try:
            from scipy.io import loadmat
        except ImportError:  # pragma: no cover - scipy comes with occreid's dependencies
            raise LayoutError("reading MARS's info/*.mat files needs scipy (pip install scipy)") from None

        info = root / "info"
        names = read_lines(info / "test_name.txt")
        try:
            tracks = loadmat(str(info / "tracks_test_info.mat"))["track_test_info"]
            query_idx = set((loadmat(str(info / "query_IDX.mat"))["query_IDX"].ravel() - 1).tolist())
        except (KeyError, ValueError, OSError) as e:
            raise LayoutError(f"{info} does not hold MARS's track_test_info / query_IDX: {e}") from None
        out: dict[str, str] = {}
        for row, (start, _end, pid, _cam) in enumerate(tracks.astype(int).tolist()):
            if pid == -1:
                continue  # junk tracklets are ignored, as in torchreid
            first = names[start - 1]
            out[f"bbox_test/{first[:11]}"] = "query" if row in query_idx else "gallery"
        return out

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        if self.no_protocol_reason(dataset):
            return []
        split = self._split or self.test_split(dataset.root)
        return [Protocol(GENERAL, GENERAL, lambda r: split.get(r.tracklet or "") == "query",
                         lambda r: split.get(r.tracklet or "") == "gallery", video=True)]

    def no_protocol_reason(self, dataset: Dataset) -> str:
        missing = [f for f in INFO_FILES if not (dataset.root / "info" / f).is_file()]
        return ("MARS's query / gallery split lives in its info files, and "
                f"{dataset.root / 'info'} lacks {', '.join(missing)}") if missing else ""
