"""Layouts: read a dataset's folders into records (path, split, pid, camera, clothes)."""

from .layouts import LAYOUTS, Layout, LayoutError, detect_layout, read_dataset
from .loaders import loader_hazards
from .records import IMAGE_EXTENSIONS, STATE_DIR, Dataset, Record

__all__ = [
    "LAYOUTS", "Layout", "LayoutError", "detect_layout", "read_dataset", "loader_hazards",
    "IMAGE_EXTENSIONS", "STATE_DIR", "Dataset", "Record",
]
