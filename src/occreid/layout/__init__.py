"""Layouts: read a dataset's folders into records. The declarations live in :mod:`occreid.datasets`;
this package keeps the names other modules import."""

from ..datasets import DATASETS as LAYOUTS
from ..datasets import Layout, LayoutError, declaration, detect_layout, get_layout, read_dataset
from ..datasets.records import IMAGE_EXTENSIONS, STATE_DIR, Dataset, Record
from .loaders import loader_hazards

__all__ = [
    "LAYOUTS", "Layout", "LayoutError", "detect_layout", "get_layout", "read_dataset", "declaration",
    "loader_hazards", "IMAGE_EXTENSIONS", "STATE_DIR", "Dataset", "Record",
]
