"""Compatibility: records now live in :mod:`occreid.datasets.records`."""

from ..datasets.records import IMAGE_EXTENSIONS, STATE_DIR, Dataset, Record

__all__ = ["IMAGE_EXTENSIONS", "STATE_DIR", "Dataset", "Record"]
