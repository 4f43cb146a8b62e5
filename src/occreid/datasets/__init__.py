"""Every dataset occreid knows, each declared once (one module per dataset), and how to read one.

``DATASETS`` is the registry (:mod:`occreid.registry`) of declarations: it maps a ``--layout``
name to its declaration class, and detection tries them in registration order (the most specific
first); :func:`read_dataset` reads a root into a :class:`Dataset` of records. Adding a dataset
means adding one module with its declaration and listing it here; a user's own declaration is
registered with :func:`register_dataset` and detection tries it after the built-ins.
"""

from __future__ import annotations

from pathlib import Path

from ..registry import Registry
from .base import Layout, LayoutError, Protocol
from .ccvid import CCVID
from .celeb import CelebReID, CelebReIDLight
from .deepchange import DeepChange
from .duke import DukeMTMCreID
from .folder import Folder
from .hazards import loader_hazards
from .last import LaST
from .ltcc import LTCC
from .market import Market1501
from .mars import MARS
from .msmt17 import MSMT17
from .occluded_duke import OccludedDuke
from .occluded_reid import OccludedREID
from .p_duke import PDukeMTMCreID
from .partial_reid import PartialREID
from .prcc import PRCC
from .records import IMAGE_EXTENSIONS, STATE_DIR, Dataset, Record
from .vcclothes import VCClothes

DATASETS = Registry("layout")
for _cls in (PRCC, LTCC, Market1501, OccludedDuke, DukeMTMCreID, MSMT17, MARS, CCVID, VCClothes, DeepChange, LaST,
             CelebReID, CelebReIDLight, OccludedREID, PartialREID, PDukeMTMCreID, Folder):
    DATASETS.register(_cls.name, _cls, help=_cls.title)
del _cls


def register_dataset(cls: type[Layout]) -> type[Layout]:
    """Register a declaration (a :class:`Layout` subclass) under its ``name``; usable as a decorator.
    Detection tries it after the built-ins; ``--layout NAME`` picks it."""
    if not (isinstance(cls, type) and issubclass(cls, Layout)):
        raise TypeError(f"a dataset declaration must be a Layout subclass, got {cls!r}")
    return DATASETS.register(cls.name, cls, help=cls.title)


def detect_layout(root: Path) -> Layout:
    """The declaration whose folders ``root`` has; a LayoutError listing what was expected otherwise."""
    root = Path(root)
    Layout.check_root(root)
    for cls in DATASETS.values():
        layout = cls()
        if layout.matches(root):
            return layout
    expected = "\n  ".join(cls.expected for cls in DATASETS.values())
    raise LayoutError(
        f"{root} matches no known dataset layout. Expected one of:\n  {expected}\n"
        "Use --layout folder for any other tree of images."
    )


def get_layout(root: Path, layout: str | None = None) -> Layout:
    """The declaration for ``root``: detected, or the named one after checking that ``root`` fits it."""
    root = Path(root)
    if layout is None:
        return detect_layout(root)
    if layout not in DATASETS:
        raise LayoutError(f"unknown layout {layout!r}; expected one of {', '.join(DATASETS)}")
    chosen = DATASETS[layout]()
    Layout.check_root(root)
    fits = getattr(chosen, "matches_declared", chosen.matches)  # Occluded-Duke: its folders, whatever its name
    if layout != "folder" and not fits(root):
        raise LayoutError(f"{root} is not a {layout} dataset. Expected {chosen.expected}")
    return chosen


def read_dataset(root: Path, layout: str | None = None) -> Dataset:
    """Read a dataset into records, detecting its layout unless one is named."""
    chosen = get_layout(root, layout)
    dataset = chosen.read(Path(root))
    if not dataset.records:
        raise LayoutError(f"{root} holds no images of the {chosen.name} layout ({chosen.expected})")
    return dataset


def declaration(dataset: Dataset) -> Layout:
    """The declaration that reads ``dataset`` (bound to its root: MARS reads its info/ split)."""
    return DATASETS[dataset.layout]().bind(dataset.root)


__all__ = [
    "DATASETS", "Layout", "LayoutError", "Protocol", "IMAGE_EXTENSIONS", "STATE_DIR", "Dataset", "Record",
    "detect_layout", "get_layout", "read_dataset", "declaration", "register_dataset", "loader_hazards",
    "CCVID", "CelebReID", "CelebReIDLight", "DeepChange", "DukeMTMCreID", "Folder", "LaST", "LTCC", "Market1501",
    "MARS", "MSMT17", "PRCC", "VCClothes", "OccludedDuke", "OccludedREID", "PartialREID", "PDukeMTMCreID",
]
