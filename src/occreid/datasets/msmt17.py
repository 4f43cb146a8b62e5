"""MSMT17 (Wei et al., CVPR 2018), the list-file variant torchreid's ``MSMT17`` reads."""

from __future__ import annotations

from pathlib import Path

from .base import GENERAL, Layout, LayoutError, Protocol, read_lines
from .records import Dataset, Record

#: torchreid's versions: version folder -> (train folder, test folder).
VERSIONS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}
#: list file -> (split, image folder is the train or the test folder)
LISTS = {"list_train.txt": ("train", 0), "list_val.txt": ("val", 0), "list_query.txt": ("query", 1),
         "list_gallery.txt": ("gallery", 1)}


class MSMT17(Layout):
    """MSMT17: ``MSMT17_V1/{train,test}/PPPP/*.jpg`` (V2: ``mask_train_v2``, ``mask_test_v2``) and
    ``list_{train,val,query,gallery}.txt``.

    Each list line is ``PPPP/NAME.jpg PID`` relative to the train (train, val) or test (query,
    gallery) folder; pid is the list's number as is, camera the third ``_`` field of the listed
    path minus one. The root may be the version folder or the folder holding it. Images in no list
    are copied unchanged. ``val`` is training data (torchreid leaves it out of training unless
    ``combineall``). Setting: general, list_query against list_gallery.
    """

    name = "msmt17"
    title = "MSMT17"
    expected = "msmt17: MSMT17_V1/ (or MSMT17_V2/) with train/, test/ and list_{train,val,query,gallery}.txt"
    roles = {"train": "train", "val": "train", "query": "query", "gallery": "gallery"}
    test_splits = ("query", "gallery")
    held_out = ("val",)

    def __init__(self):
        self.prefix, self.folders = "", VERSIONS["MSMT17_V1"]

    def matches(self, root: Path) -> bool:
        for prefix in [f"{v}/" for v in VERSIONS] + [""]:
            base = root / prefix
            for folders in VERSIONS.values():
                if (base / folders[0]).is_dir() and (base / "list_train.txt").is_file():
                    self.prefix, self.folders = prefix, folders
                    return True
        return False

    def record(self, relpath: str) -> Record | None:
        return None

    def index(self, root: Path) -> dict[str, Record]:
        out: dict[str, Record] = {}
        base = Path(root) / self.prefix
        for list_name, (split, which) in LISTS.items():
            if not (base / list_name).is_file():
                continue
            for line in read_lines(base / list_name):
                try:
                    path, pid = line.split(" ")
                    camera = int(path.split("_")[2]) - 1
                    pid_value = int(pid)
                except (ValueError, IndexError):
                    raise LayoutError(f"{base / list_name}: line {line!r} is not 'FOLDER/NAME.jpg PID' "
                                      "with a camera in the name's third '_' field") from None
                rel = f"{self.prefix}{self.folders[which]}/{path}"
                out[rel] = Record(rel, split, pid_value, camera)
        return out

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == "query", lambda r: r.split == "gallery")]
