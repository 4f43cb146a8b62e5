"""Every input file accounted for: reading one safely, and finding the entries a layout cannot read.

A layout lists the regular files it knows; what it cannot see (broken or looping symbolic links,
symbolic links to folders, FIFOs, folders named like images, folders that cannot be listed) is
found here, so the runner can give each a row and a reason instead of losing it silently.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from .datasets import DATASETS, STATE_DIR, Layout, Record
from .images import ImageError


def read_input(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file and its stat, read through one descriptor (never blocks on a
    FIFO); ImageError with the reason when it is not a regular file or is over ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ImageError(f"cannot read: {os_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("not a regular file")
        if st.st_size > max_bytes:
            raise ImageError(f"file too large: {st.st_size:,} bytes, over the limit of {max_bytes:,} (--max-file-size)")
        chunks, total = [], 0
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                raise ImageError(f"file too large: over the limit of {max_bytes:,} bytes (--max-file-size)")
            chunks.append(block)
        return b"".join(chunks), st
    except OSError as exc:
        raise ImageError(f"cannot read: {os_reason(exc)}") from None
    finally:
        os.close(fd)


def os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "file vanished or broken symbolic link"
    return exc.strerror or str(exc)


def odd_entries(root: Path, image_folder=lambda rel: False) -> list[tuple[str, str]]:
    """(relpath, reason) of every entry under root that a layout cannot read as a regular file:
    broken or looping symbolic links, symbolic links to folders (not followed), FIFOs, sockets and
    devices, folders that cannot be listed, and folders for which ``image_folder(relpath)`` is true
    (named like an image of the layout). Regular files and other folders are not listed."""
    found: list[tuple[str, str]] = []
    root = Path(root)

    def onerror(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        rel = where.relative_to(root).as_posix() if where != root else "."
        found.append((rel, f"folder cannot be listed ({exc.strerror or exc}); its files are not included"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for name in sorted(dirnames):
            rel = (rel_dir / name).as_posix()
            if (Path(dirpath) / name).is_symlink():
                found.append((rel, "symbolic link to a folder (not followed)"))
            elif image_folder(rel):
                found.append((rel, "a folder, not an image file"))
        for name in filenames:
            full = Path(dirpath) / name
            try:
                st = os.stat(full)
            except OSError as exc:
                found.append(((rel_dir / name).as_posix(), os_reason(exc)))
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                        else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "special file")
                found.append(((rel_dir / name).as_posix(), f"not a regular file (a {kind})"))
    return sorted(found)


def bound_layout(name: str, root: Path) -> Layout:
    """The layout's declaration, prepared to read ``root`` (PRCC's prefix, list files)."""
    layout = DATASETS[name]()
    if hasattr(layout, "bind"):
        layout.bind(Path(root))
    else:
        layout.matches(Path(root))
    return layout


def layout_record(layout: Layout, listed: dict | None, rel: str) -> Record | None:
    """The record a layout would make of ``rel`` (from its list files when it has them), or None."""
    if listed is not None:
        return listed.get(rel)
    try:
        return layout.record(rel)
    except NotImplementedError:
        return None


def sha1_file(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
