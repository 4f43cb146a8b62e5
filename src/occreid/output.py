"""The output tree: paths under one output root, and every write, rename and delete occreid makes
there, atomic and contained (``containment.py``).

Every file is written to a temporary file in ``_occreid/tmp`` (a shard's own ``tmp``) and renamed
into place, so a killed run leaves either the old file or the new one, never half of one. When that
folder lies on another file system than the target (a mount point), the temporary file is made in
the target's own folder instead (named ``.<host>-<pid>-<n>.tmp``): one rename still replaces it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import itertools
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .containment import check_contained, clean_relpath, link_on_path, relative_to_root
from .datasets import STATE_DIR
from .errors import OutputFailure
from .partmaps import encode_part_map

#: errno values that mean the output cannot take more writes (exit code 3; the run is resumable).
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


class OutputError(OutputFailure, OSError):
    """The output cannot be written (full disk, read-only, no permission); the run can be resumed."""


_TMP_COUNTER = itertools.count()


_HOST: list[str] = []


def _host() -> str:
    if not _HOST:
        _HOST.append("".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname())[:64] or "host")
    return _HOST[0]


def tmp_name(tag: str = "") -> str:
    """A temporary file name no other process writes, on this host or another sharing the output
    (shards and Ray workers on several machines): host name, process id, a counter."""
    return f"{_host()}-{os.getpid()}-{next(_TMP_COUNTER)}{tag}.tmp"


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write_file(path: str, data: bytes) -> None:
    """``data`` into a new file at ``path`` (as ``open(path, "wb").write``, with fewer objects made)."""
    fd = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        view, done = memoryview(data), 0
        while done < len(view):
            done += os.write(fd, view[done:])
    finally:
        os.close(fd)


def replace_atomically(path: str, tmp: str, write: Callable[[str], object], remake_folders: bool = False) -> None:
    """The one temporary-file-and-rename core of occreid's writes (the output tree's and the
    evaluation files'): ``write(tmp)`` fills the temporary file, ``os.replace`` puts it at ``path``
    in one step, so a reader or a killed process sees the old file or the new one, never half of
    one. On any failure the temporary file is removed and the error raised as it came.

    ``remake_folders``: a folder of ``tmp`` or ``path`` that another process removed meanwhile (a
    shard emptying its folders) is made again, once. Nothing here checks containment: an
    ``OutputTree`` proves every path lies inside its root before it calls this."""
    try:
        try:
            write(tmp)
        except FileNotFoundError:
            if not remake_folders:
                raise
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            write(tmp)
        try:
            os.replace(tmp, path)
        except FileNotFoundError:
            if not remake_folders:
                raise
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: The names under ``OUT/_occreid`` (``STATE_DIR``): this module is the one that spells them.
RUN_FILE = "run.json"
PARTS_DIR = "parts"
MASKS_DIR = "masks"
TMP_DIR = "tmp"
SHARDS_DIR = "shards"
STATE_FILE = "state.sqlite"
MANIFEST_FILE = "manifest.csv"
OTHER_FILES_FILE = "other_files.csv"
SUMMARY_FILE = "summary.json"


def state_dir(output_root: str | Path) -> Path:
    """occreid's own folder under an output root: ``OUT/_occreid``."""
    return Path(output_root) / STATE_DIR


def run_file(output_root: str | Path) -> Path:
    """Where a run's parameters lie: ``OUT/_occreid/run.json``."""
    return Path(output_root) / STATE_DIR / RUN_FILE


def parts_dir(output_root: str | Path) -> Path:
    """The folder of a run's saved part maps: ``OUT/_occreid/parts``."""
    return Path(output_root) / STATE_DIR / PARTS_DIR


def part_map_path(output_root: str | Path, relpath: str) -> Path:
    """Where the part map of the image at ``relpath`` (relative to the dataset root) is saved."""
    return Path(os.path.join(output_root, STATE_DIR, PARTS_DIR, f"{relpath}.png"))


def masks_dir(output_root: str | Path) -> Path:
    """The folder of a run's saved occluder masks: ``OUT/_occreid/masks``."""
    return Path(output_root) / STATE_DIR / MASKS_DIR


def mask_path(output_root: str | Path, relpath: str) -> Path:
    """Where the occluder mask of the image at ``relpath`` is saved (``--save-masks``)."""
    return Path(os.path.join(output_root, STATE_DIR, MASKS_DIR, f"{relpath}.png"))


class OutputTree:
    """Paths and atomic writes under one output root.

    ``tmp`` is the folder temporary files are written to before their rename (``_occreid/tmp`` by
    default); a shard passes its own, so clearing it never touches another shard's files in flight.
    """

    def __init__(self, root: Path, tmp: Path | None = None):
        self.root = Path(os.path.abspath(root))  # absolute: every path below it is checked against it
        self.state = self.root / STATE_DIR
        self.tmp = Path(os.path.abspath(tmp)) if tmp is not None else self.state / TMP_DIR
        self.state_file = self.state / STATE_FILE
        self.run_file = self.state / RUN_FILE
        self.manifest_file = self.state / MANIFEST_FILE
        self.other_files_file = self.state / OTHER_FILES_FILE
        self.summary_file = self.state / SUMMARY_FILE
        self.parts_dir = self.state / PARTS_DIR
        self.masks_dir = self.state / MASKS_DIR
        self._root = os.fspath(self.root)
        self._folders: set[str] = set()  # folders this object made or found: not made again per file
        self._real: set[str] = set()  # folders found to be real folders, not links (containment.py)
        self._tmp_beside = False  # the temporary folder is on another file system: write beside the target

    def image_path(self, relpath: str) -> Path:
        return self.root / relpath

    def part_path(self, relpath: str) -> Path:
        return part_map_path(self.root, relpath)

    def mask_path(self, relpath: str) -> Path:
        return mask_path(self.root, relpath)

    def output_path(self, kind: str, relpath: str) -> Path:
        """Where an output of this kind (``image``, ``copy``, ``parts``, ``masks``) of an input lies."""
        return {"parts": self.part_path, "masks": self.mask_path}.get(kind, self.image_path)(relpath)

    def contained(self, path, what: str = "write") -> str:
        """``path`` as a string after checking it lies inside the root with no link on the way
        (``containment.check_contained``); UnsafePath otherwise."""
        path = os.fspath(path)
        check_contained(self._root, path, self._real, what)
        return path

    def _folder(self, folder: str) -> None:
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    # -- atomic writes ---------------------------------------------------------------------
    def write_bytes(self, path: Path, data: bytes) -> str:
        """Write ``data`` to ``path`` through a temporary file and a rename; the SHA-1 of ``data``.

        ``path`` must lie inside the root with no symbolic link on the way (UnsafePath otherwise).
        OutputError when the output cannot take it (disk full, read-only, permission): the run
        stops and can be resumed. Another OSError (a name too long for the output file system, a
        folder where the file goes) is left to the caller, which records it against the image.
        """
        self._write(path, lambda tmp: _write_file(tmp, data))
        return hashlib.sha1(data).hexdigest()

    def copy_file(self, src, path: Path) -> tuple[str, os.stat_result]:
        """Copy the file ``src`` to ``path`` (bytes and modification time) as ``write_bytes`` does;
        the SHA-1 of its bytes and its stat as read. An OSError reading ``src`` is raised as it is."""
        with open(src, "rb") as fin:
            st = os.fstat(fin.fileno())
            h = [hashlib.sha1()]

            def write(tmp: str) -> None:
                fin.seek(0)
                h[0] = hashlib.sha1()
                with open(tmp, "wb") as fout:
                    while block := fin.read(1 << 20):
                        h[0].update(block)
                        fout.write(block)
                os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))

            self._write(path, write)
        return h[0].hexdigest(), st

    def _write(self, path, write) -> None:
        """``write(tmp)`` fills a temporary file, renamed to ``path`` (contained). When the temporary
        folder lies on another file system than the target (EXDEV), the temporary file is made in
        the target's own folder instead: still one atomic rename."""
        try:
            path = self.contained(path)
            parent = os.path.dirname(path)
            tmp_dir = parent if self._tmp_beside else os.fspath(self.tmp)
            if tmp_dir != parent:
                self.contained(os.path.join(tmp_dir, "x"))
            for folder in (parent, tmp_dir):
                self._folder(folder)
            try:
                self._write_through(path, parent, tmp_dir, write)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._tmp_beside = True  # tmp on another file system: a rename cannot cross it
                self._write_through(path, parent, parent, write)
        except OSError as exc:
            if exc.errno in OUTPUT_ERRNOS:
                raise OutputError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
            raise

    def _write_through(self, path: str, parent: str, tmp_dir: str, write) -> None:
        """``write`` into a temporary file of ``tmp_dir``, renamed to ``path``."""
        tmp = os.path.join(tmp_dir, ("." if tmp_dir == parent else "") + tmp_name())
        replace_atomically(path, tmp, write, remake_folders=True)

    def clear_tmp(self) -> None:
        """Remove the temporary files (``*.tmp``) a killed run left behind. A temporary folder that
        is a link or not a folder is left alone (the run's checks refuse it); subfolders are kept."""
        tmp = os.fspath(self.tmp)
        try:
            self.contained(os.path.join(tmp, "x"), "delete")
            if not stat.S_ISDIR(os.lstat(tmp).st_mode):
                return
            with os.scandir(tmp) as found:
                for entry in found:
                    if entry.name.endswith(".tmp") and not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno in OUTPUT_ERRNOS:
                raise OutputError(exc.errno, f"cannot clear {tmp}: {exc.strerror or exc}") from None
            raise

    def remove(self, kind: str, relpath: str) -> bool:
        """Remove one output file and the folders it leaves empty; False (nothing done) when it is
        not there, is a folder, ``relpath`` is not clean, or a link lies on the way (containment)."""
        if not clean_relpath(relpath):
            return False
        path = os.fspath(self.output_path(kind, relpath))
        try:
            rel = relative_to_root(self._root, path)
            if link_on_path(self._root, rel.rpartition("/")[0]) is not None:
                return False
            if stat.S_ISDIR(os.lstat(path).st_mode):
                return False
            os.unlink(path)
        except OSError:  # missing, under a file, or not contained: nothing to remove
            return False
        stop = {self._root, os.fspath(self.state)}
        parent = os.path.dirname(path)
        while parent not in stop and parent.startswith(self._root + "/"):
            try:
                os.rmdir(parent)
            except OSError:
                break
            self._folders.discard(parent)
            self._real.discard(parent)
            parent = os.path.dirname(parent)
        return True

    # -- side outputs ----------------------------------------------------------------------
    def save_part_map(self, relpath: str, parts: np.ndarray | None, shape: tuple[int, int],
                      parser: str, reason: str, source_sha1: str, source: str = "",
                      presence: float | None = None, quality: float | None = None) -> str:
        """Save a part map (``partmaps.encode_part_map``: the one writer of the format); returns the PNG's SHA-1."""
        return self.write_bytes(self.part_path(relpath), encode_part_map(parts, shape, parser, reason, source_sha1,
                                                                         source, presence, quality))

    def save_mask(self, relpath: str, mask: np.ndarray) -> str:
        buf = io.BytesIO()
        Image.fromarray(mask.astype(bool)).save(buf, format="PNG")
        return self.write_bytes(self.mask_path(relpath), buf.getvalue())
