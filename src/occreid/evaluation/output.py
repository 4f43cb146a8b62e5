"""Where ``embed`` and ``evaluate`` write their files, and how: checked before any work, written atomically.

A path named by ``--out``, ``--json`` or ``--per-query`` is checked before the first image:
missing folders above it are created, a path under a file or in a folder that cannot be written
is refused (:class:`OutputError`, exit 3), and a path inside an input dataset is refused
(:class:`OutputPlaceError`, exit 2): occreid never writes into a dataset it reads (a features file
inside the dataset would be copied into every occluded twin as one of its "other files"). Files are
written to a temporary file in the same folder, flushed to disk and renamed into place, so a full
disk or a kill never leaves a truncated ``.npz`` or JSON where the file should be.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from ..errors import OccreidError, OutputFailure
from ..output import replace_atomically


class OutputError(OutputFailure, OSError):
    """The output cannot be written (a file in the way, no permission, disk full)."""


class OutputPlaceError(OccreidError, ValueError):
    """The output path lies inside an input dataset."""


def check_output(path: Path, inputs: Iterable[Path], what: str) -> Path:
    """Refuse ``path`` (for ``what``, e.g. ``--json``) when it cannot be written or lies in an input.

    Creates the missing folders above it; returns the path.
    """
    path = Path(path)
    full = Path(os.path.abspath(path))
    for root in inputs:
        base = Path(os.path.realpath(root))
        if Path(os.path.realpath(full.parent)).is_relative_to(base) or full.is_relative_to(Path(os.path.abspath(root))):
            raise OutputPlaceError(f"{what} {path} lies inside the dataset {root}, which occreid only reads; "
                                   "choose a path outside it.")
    if full.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name.")
    ancestor = full.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{what} {path} cannot be written: {ancestor} is a file, not a folder.")
    try:
        full.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{what} {path} cannot be written: cannot create {full.parent} ({e.strerror}).") from None
    if not os.access(full.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} cannot be written: no permission to write in {full.parent}.")
    return path


def atomic_write(path: Path, write: Callable[[BinaryIO], object], what: str) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it into place.

    Any OSError (disk full, quota, file size limit) removes the temporary file and raises
    :class:`OutputError`; what was at ``path`` before is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)

    def fill(_tmp: str) -> None:  # through mkstemp's descriptor, flushed to disk before the rename
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())

    try:
        replace_atomically(os.fspath(path), tmp, fill)
    except OSError as e:
        reason = e.strerror or str(e)
        raise OutputError(f"cannot write {what} {path}: {reason}; nothing was written.") from None
