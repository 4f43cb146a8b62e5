"""What every dataset declaration says, and the shared machinery that reads a declaration.

A declaration (one module per dataset, one class each) states, on one screen: the folders and
file-name rules or list files, how a file becomes a :class:`Record` (pid, camera, clothes,
tracklet), which records are train / query / gallery, and the evaluation settings the dataset
supports (:class:`Protocol`). Generation (detection, the split policy), evaluation (protocols,
loaders, torchreid registration) and the statistics read it; nothing else restates it.

Labels are read from the path relative to the dataset root, never from the absolute path. Where
a public loader runs its regex on the absolute path (LTCC, Market-1501, DukeMTMC-reID,
VC-Clothes), the declaration says so in :meth:`Layout.loader_labels`, so occreid can warn when an
output folder would make that loader misread the labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import OccreidError
from .records import STATE_DIR, Dataset, Record

#: Good / junk rules (see ``occreid.evaluation.metrics.label_masks``).
GENERAL, CLOTH_CHANGING, SAME_CLOTHES = "general", "cloth-changing", "same-clothes"

#: How a protocol obtains each image's camera for the junk rule.
CAMERA_LABEL = "label"  # the record's camera
CAMERA_PER_IMAGE = "per-image"  # every image its own camera (LaST, Celeb-reID: no camera exists)
CAMERA_TRACKLET = "tracklet"  # the tracklet stands in for the camera (DeepChange, as in CAL)


class LayoutError(OccreidError, ValueError):
    """The folder is not a dataset of the requested (or any detectable) layout."""


@dataclass(frozen=True)
class Protocol:
    """One published evaluation setting: which records query which, and what counts as a match.

    ``query`` and ``gallery`` select records; ``rule`` is the good / junk rule; ``camera`` says
    where the camera used by the rule comes from; ``video`` evaluates tracklets (frame features
    averaged per ``Record.tracklet``) instead of images; ``single_shot`` marks PRCC's protocol
    whose gallery may also be drawn one image per identity.
    """

    name: str
    rule: str
    query: Callable[[Record], bool]
    gallery: Callable[[Record], bool]
    camera: str = CAMERA_LABEL
    video: bool = False
    single_shot: bool = False
    note: str = ""


def walk_files(root: Path) -> list[str]:
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


def parts_at_depth(rel: str, folder_depth: int, suffix: str) -> list[str] | None:
    """``rel`` split into components if it is a ``*suffix`` file exactly ``folder_depth`` folders deep."""
    parts = rel.split("/")
    if len(parts) != folder_depth + 1 or not parts[-1].endswith(suffix):
        return None
    return parts


def first_name(folder: Path, suffix: str, depth: int = 0) -> str | None:
    """The first file name (sorted) ending in ``suffix`` in ``folder`` (``depth`` folders further down)."""
    if not folder.is_dir():
        return None
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if depth == 0 and entry.endswith(suffix) and path.is_file():
            return entry
        if depth > 0 and path.is_dir():
            found = first_name(path, suffix, depth - 1)
            if found is not None:
                return found
    return None


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a list file, trailing whitespace removed (as the public loaders read them)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip() for line in f if line.strip()]


class Layout:
    """Base class of a dataset declaration.

    Subclasses set ``name`` (the ``--layout`` choice), ``title``, ``expected`` (one line shown when
    detection fails), ``roles`` (split -> ``train`` / ``query`` / ``gallery``), ``test_splits``
    (the splits CAL-style lists call ``query`` and ``gallery``), and implement ``matches`` and
    ``record`` (or ``index`` for datasets whose splits come from list files) and ``protocols``.
    """

    name: str = ""
    title: str = ""
    expected: str = ""
    video: bool = False
    roles: dict[str, str] = {}
    test_splits: tuple[str, str] | None = None  # (query split, gallery split) of the CAL-style lists
    held_out: tuple[str, ...] = ()  # train-role splits kept out of the training lists (MSMT17's val)
    #: pids the public loaders never train on (torchreid's and fast-reid's ``_junk_pids``): kept out of
    #: the identities ``combineall`` adds from query and gallery
    junk_pids: tuple[int, ...] = ()
    #: in words, which folder names on an output path make the public loader misread labels
    #: (declarations whose loader runs its regex on the full path)
    path_rule: str = ""

    # -- reading ---------------------------------------------------------------------------
    def matches(self, root: Path) -> bool:
        raise NotImplementedError

    def record(self, relpath: str) -> Record | None:
        """The record for a file, or None if the public loader would not read it (copied unchanged)."""
        raise NotImplementedError

    def role_folder_record(self, relpath: str, suffix: str, prefix: str = "") -> Record | None:
        """The record of a ``[prefix]ROLE/NAME`` file (one folder below ``prefix``, that folder one
        of ``roles``) labelled by :meth:`loader_labels` on its file name, or None: how LTCC,
        VC-Clothes and Market-1501 / DukeMTMC-reID lay out their images."""
        if not relpath.startswith(prefix):
            return None
        parts = parts_at_depth(relpath[len(prefix):], 1, suffix)
        if parts is None or parts[0] not in self.roles:
            return None
        labels = self.loader_labels(parts[1])
        return None if labels is None else Record(relpath, parts[0], *labels)

    def index(self, root: Path) -> dict[str, Record] | None:
        """Records by relpath read from list files, or None when file names alone decide (the default)."""
        return None

    def bind(self, root: Path) -> Layout:
        """Prepare to read ``root`` (where the dataset sits under it, split files); returns self."""
        if Path(root).is_dir():
            self.matches(Path(root))
        return self

    def read(self, root: Path) -> Dataset:
        root = Path(root)
        self.bind(root)
        listed = self.index(root)
        records: list[Record] = []
        others: list[str] = []
        for rel in walk_files(root):
            rec = self.record(rel) if listed is None else listed.get(rel)
            (others.append(rel) if rec is None else records.append(rec))
        return Dataset(root=root, layout=self.name, records=tuple(records), other_files=tuple(others))

    # -- roles and evaluation -------------------------------------------------------------------
    def role(self, record: Record) -> str | None:
        """``train``, ``query`` or ``gallery`` as the public evaluation uses the record; None if unknown."""
        return self.roles.get(record.split)

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        """The evaluation settings of the dataset; [] when it has none (folder)."""
        return []

    def no_protocol_reason(self, dataset: Dataset) -> str:
        return f"{self.title or self.name} has no evaluation protocol in occreid"

    # -- the public loaders' own reading (path hazards) --------------------------------------------
    def loader_labels(self, full_path: str) -> tuple | None:
        """Labels as the public loader reads them from an absolute path; None if it does not use the path."""
        return None

    def expected_loader_labels(self, record: Record) -> tuple:
        """What :meth:`loader_labels` should give for ``record`` (pid, camera by default)."""
        return (record.pid, record.camera)

    def path_hazard(self, out_root: str) -> str | None:
        """A warning when the public loader would misread a dataset written under ``out_root``; None if safe."""
        return None

    @staticmethod
    def check_root(root: Path) -> None:
        if not Path(root).is_dir():
            raise LayoutError(f"{root} is not a folder")
