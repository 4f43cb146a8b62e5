"""PRCC (Yang et al., TPAMI 2019), read as CAL / Simple-CCReID's ``data/datasets/prcc.py`` reads it."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import GENERAL, Protocol
from .records import Dataset, Record
from .subfolders import SubfolderLayout


class PRCC(SubfolderLayout):
    """PRCC: ``rgb/train/PPP/{A,B,C}_cropped_rgbNNN.jpg``, ``rgb/val`` alike, ``rgb/test/{A,B,C}/PPP/*.jpg``.

    The root may be the PRCC folder (holding ``rgb/`` and maybe ``sketch/``) or ``rgb/`` itself.
    pid = person folder; camera A=0, B=1, C=2 (file-name letter in train/val, folder in test);
    clothes: A and B share the outfit ``PPP_AB``, C is ``PPP_C``. Test camera A is the gallery,
    B queries it with the same clothes, C with other clothes; both settings use the general rule
    (cameras always differ). The single-shot gallery (one camera-A image per identity, 10 draws)
    is the original paper's protocol; CAL's loader draws it with ``random.seed(3)``
    (:func:`cal_gallery_order` gives the order its draws run in).
    """

    name = "prcc"
    title = "PRCC"
    expected = "prcc: rgb/train/PPP/A_cropped_rgbNNN.jpg, rgb/val/..., rgb/test/{A,B,C}/PPP/*.jpg"
    CAMERAS = {"A": 0, "B": 1, "C": 2}
    subfolders = ("rgb/", "")

    def __init__(self, prefix: str = "rgb/"):
        self.prefix = prefix

    def holds(self, base: Path) -> bool:
        return (base / "train").is_dir() and (base / "test" / "A").is_dir()

    def record(self, relpath: str) -> Record | None:
        parts = self.below_prefix(relpath)
        if parts is None:
            return None
        if not parts[-1].endswith(".jpg"):
            return None
        if len(parts) == 3 and parts[0] in ("train", "val") and parts[1].isdigit():
            cam = parts[2][:1]
            if cam not in self.CAMERAS:
                return None
            split, pid = parts[0], int(parts[1])
        elif len(parts) == 4 and parts[0] == "test" and parts[1] in self.CAMERAS and parts[2].isdigit():
            split, cam, pid = "test", parts[1], int(parts[2])
        else:
            return None
        return Record(relpath, split, pid, self.CAMERAS[cam], f"{pid:03d}_{'C' if cam == 'C' else 'AB'}")

    def role(self, record: Record) -> str | None:
        if record.split != "test":
            return "train"
        return "gallery" if record.camera == 0 else "query"  # A is the gallery; B and C query it

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        def gallery(r: Record) -> bool:
            return r.split == "test" and r.camera == 0

        return [
            Protocol("same-clothes", GENERAL, lambda r: r.split == "test" and r.camera == 1, gallery, single_shot=True),
            Protocol("cloth-changing", GENERAL, lambda r: r.split == "test" and r.camera == 2, gallery,
                     single_shot=True),
        ]


def cal_gallery_order(root: str | Path, order: str = "sorted") -> list[str]:
    """The camera-A gallery as CAL's PRCC loader lists it: relpaths (to ``root``) in its index order.

    CAL walks ``test/A/*`` person folders and each folder's ``*.jpg`` with unsorted ``glob``, so
    its order is the file system's. ``order="sorted"`` sorts folder and file names (the order on
    any file system where listing is alphabetical, and the reproducible choice);
    ``order="filesystem"`` keeps the order this machine's directory listing gives, which is what
    CAL itself sees here. Single-shot draws index into this list, identities in the order their
    folders come.
    """
    if order not in ("sorted", "filesystem"):
        raise ValueError(f"order must be 'sorted' or 'filesystem', not {order!r}")
    root = Path(root)
    base = root / "rgb" if (root / "rgb" / "test").is_dir() else root
    keep = sorted if order == "sorted" else list
    out: list[str] = []
    for pdir in keep(glob.glob(os.path.join(glob.escape(str(base)), "test", "A", "*"))):  # a root may hold [ ] * ?
        for path in keep(glob.glob(os.path.join(glob.escape(pdir), "*.jpg"))):
            out.append(Path(os.path.relpath(path, root)).as_posix())
    return out
