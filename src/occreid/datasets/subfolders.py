"""Declarations whose folders sit in the dataset root or in one of a few named subfolders of it.

The loaders of PRCC (``rgb/``), Occluded-REID (``Occluded_REID/``), Partial-REID and
P-DukeMTMC-reID accept either root; a declaration says which subfolders it tries and what a
candidate must hold (:meth:`SubfolderLayout.holds`), and reads labels from the path below the
subfolder that matched (:meth:`SubfolderLayout.below_prefix`).
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Layout


class SubfolderLayout(Layout):
    """A :class:`Layout` found in the first of ``subfolders`` (``""``: the root itself) that
    :meth:`holds` its folders; ``prefix`` is that subfolder once :meth:`matches` found it (the
    declaration's default otherwise)."""

    subfolders: tuple[str, ...] = ("",)
    prefix: str = ""

    def holds(self, base: Path) -> bool:
        """Whether ``base`` (the root joined with one of ``subfolders``) holds the dataset's folders."""
        raise NotImplementedError

    def matches(self, root: Path) -> bool:
        for prefix in self.subfolders:
            if self.holds(root / prefix):
                self.prefix = prefix
                return True
        return False

    def below_prefix(self, relpath: str) -> list[str] | None:
        """``relpath``'s components below ``prefix``, or None when it lies elsewhere."""
        if not relpath.startswith(self.prefix):
            return None
        return relpath[len(self.prefix):].split("/")


#: A whole number, maybe negative: what ``int`` reads (``str.isdigit`` also takes ``²``, which it does not).
_PID = re.compile(r"-?\d+")


def leading_pid(name: str) -> int | None:
    """The pid of a file named ``PID_...`` as BPBReID's and PVPM's loaders read it (the field before
    the first ``_``, a whole number, maybe negative); None when that field is not one (``--5``,
    ``²``: such a file is copied unchanged, where it used to end the run in a traceback)."""
    head = name.split("_")[0]
    return int(head) if _PID.fullmatch(head) else None
