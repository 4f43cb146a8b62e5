"""The dataset layouts occreid knows: where images are and how their names carry labels.

Each layout's knowledge fits in one small class, as in torchreid: which folders hold the images,
which glob the public loader uses, and how a file name becomes (pid, camera, clothes). Labels are
read from the file name relative to the dataset root, never from the absolute path (the public
LTCC / Market loaders run their regexes on the full path, a pitfall occreid warns about instead).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .records import IMAGE_EXTENSIONS, STATE_DIR, Dataset, Record


def _walk_files(root: Path) -> list[str]:
    """Every regular file under root as a sorted posix relpath, skipping occreid's state folder."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir == Path(".") and d == STATE_DIR))
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file():
                out.append((rel_dir / name).as_posix())
    return sorted(out)


class Layout:
    """Base class: subclasses say which files are images and how names become labels."""

    name: str = ""
    expected: str = ""  # one line shown when detection fails

    def matches(self, root: Path) -> bool:
        raise NotImplementedError

    def record(self, relpath: str) -> Record | None:
        """The record for an image file, or None if the public loader would not read this file."""
        raise NotImplementedError

    #: on-disk split -> evaluation role (train, query, gallery); PRCC overrides ``role``
    roles: dict[str, str] = {}

    def role(self, record: Record) -> str | None:
        """``train``, ``query`` or ``gallery`` as the public evaluation uses the record; None if unknown."""
        return self.roles.get(record.split)

    def read(self, root: Path) -> Dataset:
        root = Path(root)
        records: list[Record] = []
        others: list[str] = []
        for rel in _walk_files(root):
            rec = self.record(rel)
            (others.append(rel) if rec is None else records.append(rec))
        return Dataset(root=root, layout=self.name, records=tuple(records), other_files=tuple(others))


def _glob_parts(rel: str, folder_depth: int, suffix: str) -> list[str] | None:
    """Split ``rel`` into path components if it is a ``*suffix`` file exactly ``folder_depth`` deep."""
    parts = rel.split("/")
    if len(parts) != folder_depth + 1 or not parts[-1].endswith(suffix):
        return None
    return parts


class PRCC(Layout):
    """PRCC: ``rgb/train/PPP/{A,B,C}_cropped_rgbNNN.jpg``, ``rgb/val`` alike, ``rgb/test/{A,B,C}/PPP/*.jpg``.

    The root may be the PRCC folder (holding ``rgb/`` and maybe ``sketch/``) or ``rgb/`` itself.
    pid = person folder; camera A=0, B=1, C=2 (file-name letter in train/val, folder in test);
    clothes: A and B share the outfit ``PPP_AB``, C is ``PPP_C``.
    """

    name = "prcc"
    expected = "prcc: rgb/train/PPP/A_cropped_rgbNNN.jpg, rgb/val/..., rgb/test/{A,B,C}/PPP/*.jpg"
    _CAMS = {"A": 0, "B": 1, "C": 2}

    def __init__(self, prefix: str = "rgb/"):
        self.prefix = prefix

    def matches(self, root: Path) -> bool:
        for prefix in ("rgb/", ""):
            base = root / prefix
            if (base / "train").is_dir() and (base / "test" / "A").is_dir():
                self.prefix = prefix
                return True
        return False

    def record(self, relpath: str) -> Record | None:
        if not relpath.startswith(self.prefix):
            return None
        parts = relpath[len(self.prefix):].split("/")
        if not parts[-1].endswith(".jpg"):
            return None
        if len(parts) == 3 and parts[0] in ("train", "val") and parts[1].isdigit():
            cam = parts[2][:1]
            if cam not in self._CAMS:
                return None
            split, pid = parts[0], int(parts[1])
        elif len(parts) == 4 and parts[0] == "test" and parts[1] in self._CAMS and parts[2].isdigit():
            split, cam, pid = "test", parts[1], int(parts[2])
        else:
            return None
        clothes = f"{pid:03d}_{'C' if cam == 'C' else 'AB'}"
        return Record(relpath, split, pid, self._CAMS[cam], clothes)

    def role(self, record: Record) -> str | None:
        if record.split != "test":
            return "train"
        return "gallery" if record.camera == 0 else "query"  # A is the gallery; B and C query it


class LTCC(Layout):
    """LTCC: flat ``train/``, ``query/``, ``test/`` (the gallery) of ``PPP_K_cC_FFFFFF.png``.

    pid and camera from ``(\\d+)_(\\d+)_c(\\d+)`` (camera stored 0-based, C-1); clothes key ``PPP_K``.
    ``info/`` and anything else is copied unchanged.
    """

    name = "ltcc"
    expected = "ltcc: train/, query/, test/ holding PPP_K_cC_FFFFFF.png"
    _SPLITS = ("train", "query", "test")
    roles = {"train": "train", "query": "query", "test": "gallery"}
    _NAME = re.compile(r"^(\d+)_(\d+)_c(\d+)")
    _CLOTHES = re.compile(r"^(\w+)_c")

    def matches(self, root: Path) -> bool:
        return all((root / s).is_dir() for s in self._SPLITS) and any((root / "train").glob("*_c*.png"))

    def record(self, relpath: str) -> Record | None:
        parts = _glob_parts(relpath, 1, ".png")
        if parts is None or parts[0] not in self._SPLITS:
            return None
        m = self._NAME.match(parts[1])
        if m is None:
            return None
        clothes = self._CLOTHES.match(parts[1])
        return Record(relpath, parts[0], int(m.group(1)), int(m.group(3)) - 1, clothes.group(1) if clothes else None)


class Market(Layout):
    """Market-1501: ``bounding_box_train/``, ``bounding_box_test/``, ``query/`` of ``PPPP_cCsS_FFFFFF_BB.jpg``.

    pid and camera from ``([-\\d]+)_c(\\d)`` (camera 0-based); pid -1 marks junk images and 0 the
    distractors, as in the public loaders; no clothes labels.
    """

    name = "market"
    expected = "market: bounding_box_train/, bounding_box_test/, query/ holding PPPP_cCsS_FFFFFF_BB.jpg"
    _SPLITS = ("bounding_box_train", "bounding_box_test", "query")
    roles = {"bounding_box_train": "train", "query": "query", "bounding_box_test": "gallery"}
    _NAME = re.compile(r"^([-\d]+)_c(\d)")

    def matches(self, root: Path) -> bool:
        return all((root / s).is_dir() for s in self._SPLITS)

    def record(self, relpath: str) -> Record | None:
        parts = _glob_parts(relpath, 1, ".jpg")
        if parts is None or parts[0] not in self._SPLITS:
            return None
        m = self._NAME.match(parts[1])
        if m is None:
            return None
        return Record(relpath, parts[0], int(m.group(1)), int(m.group(2)) - 1)


class MARS(Layout):
    """MARS: ``bbox_train/PPPP/PPPPcCtTTTTfFFF.jpg`` and ``bbox_test/`` alike (camera 0-based).

    MARS has no outfit labels; the tracklet is in the file name.
    """

    name = "mars"
    expected = "mars: bbox_train/PPPP/PPPPcCtTTTTfFFF.jpg, bbox_test/..."
    _SPLITS = ("bbox_train", "bbox_test")
    roles = {"bbox_train": "train"}
    _NAME = re.compile(r"^(-?\d{4})C(\d)T\d{4}F\d{3}", re.IGNORECASE)

    def matches(self, root: Path) -> bool:
        return any((root / s).is_dir() for s in self._SPLITS) and not (root / "train").is_dir()

    def record(self, relpath: str) -> Record | None:
        parts = _glob_parts(relpath, 2, ".jpg")
        if parts is None or parts[0] not in self._SPLITS:
            return None
        m = self._NAME.match(parts[2])
        if m is None:
            return None
        return Record(relpath, parts[0], int(m.group(1)), int(m.group(2)) - 1)


class Folder(Layout):
    """Any tree of images (by extension); relative paths are mirrored; no labels.

    The split is the top-level folder of each image (``.`` for images at the root).
    """

    name = "folder"
    expected = "folder: any tree of images (chosen with --layout folder, never detected)"

    def matches(self, root: Path) -> bool:
        return False  # only by explicit choice

    def record(self, relpath: str) -> Record | None:
        if Path(relpath).suffix.lower() not in IMAGE_EXTENSIONS:
            return None
        split = relpath.split("/", 1)[0] if "/" in relpath else "."
        return Record(relpath, split)


LAYOUTS: dict[str, type[Layout]] = {cls.name: cls for cls in (PRCC, LTCC, Market, MARS, Folder)}


class LayoutError(ValueError):
    """The folder is not a dataset of the requested (or any detectable) layout."""


def detect_layout(root: Path) -> Layout:
    """The layout whose folders ``root`` has; a LayoutError listing what was expected otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root} is not a folder")
    for cls in LAYOUTS.values():
        layout = cls()
        if layout.matches(root):
            return layout
    expected = "\n  ".join(cls.expected for cls in LAYOUTS.values())
    raise LayoutError(
        f"{root} matches no known dataset layout. Expected one of:\n  {expected}\n"
        "Use --layout folder for any other tree of images."
    )


def read_dataset(root: Path, layout: str | None = None) -> Dataset:
    """Read a dataset into records, detecting its layout unless one is named."""
    root = Path(root)
    if layout is None:
        chosen = detect_layout(root)
    else:
        if layout not in LAYOUTS:
            raise LayoutError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
        chosen = LAYOUTS[layout]()
        if not root.is_dir():
            raise LayoutError(f"{root} is not a folder")
        if layout != "folder" and not chosen.matches(root):
            raise LayoutError(f"{root} is not a {layout} dataset. Expected {chosen.expected}")
    dataset = chosen.read(root)
    if not dataset.records:
        raise LayoutError(f"{root} holds no images of the {chosen.name} layout ({chosen.expected})")
    return dataset
