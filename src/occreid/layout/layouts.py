"""Compatibility: the dataset declarations now live in :mod:`occreid.datasets`, one module each."""

from ..datasets import DATASETS as LAYOUTS
from ..datasets import Layout, LayoutError, detect_layout, read_dataset
from ..datasets import LTCC, MARS, PRCC, Folder
from ..datasets import Market1501 as Market

__all__ = ["LAYOUTS", "Layout", "LayoutError", "detect_layout", "read_dataset", "PRCC", "LTCC", "Market", "MARS",
           "Folder"]
