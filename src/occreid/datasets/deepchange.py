"""DeepChange (Xu and Zhu, 2021), read as CAL / Simple-CCReID's ``DeepChange`` reads it."""

from __future__ import annotations

from pathlib import Path

from .base import CAMERA_TRACKLET, GENERAL, Layout, LayoutError, Protocol, read_lines
from .records import Dataset, Record

#: image folder -> its list file
FOLDERS = {
    "train-set": "train-set-bbox.txt",
    "val-set-query": "val-set-query-bbox.txt",
    "val-set-gallery": "val-set-gallery-bbox.txt",
    "test-set-query": "test-set-query-bbox.txt",
    "test-set-gallery": "test-set-gallery-bbox.txt",
}


class DeepChange(Layout):
    """DeepChange: ``train-set/``, ``val-set-{query,gallery}/``, ``test-set-{query,gallery}/`` and one
    ``<folder>-bbox.txt`` list per folder.

    Each list line is ``NAME.jpg,TRACKLET`` (NAME relative to the folder). From NAME's ``_`` fields
    (before the first ``.``): pid = field 0 without its ``P``, camera = field 1 without its ``C``,
    clothes key = fields 0 and 2 joined; tracklet = the list's number. Images in no list are copied
    unchanged. Settings (CAL): ``val`` and ``test``, query against gallery, general rule with the
    tracklet standing in for the camera (true matches may come from the same camera, in another
    tracklet, as the DeepChange paper allows).
    """

    name = "deepchange"
    title = "DeepChange"
    expected = "deepchange: train-set/, val-set-query/, ..., test-set-gallery/ with <folder>-bbox.txt lists"
    roles = {"train-set": "train", "val-set-query": "query", "val-set-gallery": "gallery",
             "test-set-query": "query", "test-set-gallery": "gallery"}
    test_splits = ("test-set-query", "test-set-gallery")

    def matches(self, root: Path) -> bool:
        return all((root / folder).is_dir() and (root / lst).is_file() for folder, lst in FOLDERS.items())

    def record(self, relpath: str) -> Record | None:
        return None

    def index(self, root: Path) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for folder, list_name in FOLDERS.items():
            for line in read_lines(Path(root) / list_name):
                try:
                    name, tracklet = line.split(",")[:2]
                    fields = line.split(".")[0].split("_")
                    pid, camera = int(fields[0][1:]), int(fields[1][1:])
                    clothes = fields[0] + fields[2]
                    tracklet_id = int(tracklet)
                except (ValueError, IndexError):
                    raise LayoutError(f"{Path(root) / list_name}: line {line!r} is not "
                                      "'P..._C..._D..._....jpg,TRACKLET'") from None
                rel = f"{folder}/{name}"
                out[rel] = Record(rel, folder, pid, camera, clothes, str(tracklet_id))
        return out

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        def split(name: str):
            return lambda r: r.split == name

        return [Protocol(part, GENERAL, split(f"{part}-set-query"), split(f"{part}-set-gallery"),
                         camera=CAMERA_TRACKLET) for part in ("val", "test")]
