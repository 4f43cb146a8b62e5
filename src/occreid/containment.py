"""Containment: every path occreid writes, renames, makes or deletes lies inside the output root,
and no symbolic link inside that root is followed on the way there.

The rule, in two halves:

- A relative path occreid acts on is *clean*: a non-empty relative POSIX path, every component a
  real name (no empty, ``.`` or ``..`` component), no NUL, and not under ``_occreid/`` when it
  names a mirrored input (that folder is occreid's own). A state or shard row whose relpath is
  not clean is damage: it is dropped and redone, never used as a path (``clean_relpath``).
- Between the output root and the file, no component is a symbolic link (``link_on_path``). A
  link at a folder occreid writes into (``_occreid``, its ``tmp``, ``shards``, ``parts``,
  ``masks``, a split or any other folder of the mirrored tree) refuses the run before the first
  image, naming the link (``runner``'s checks); one that appears mid-run makes that image an
  ``error`` row (``OutputTree.write_bytes`` raises ``UnsafePath``) and is never written through.
  Deletes check the same and leave anything behind a link alone. Replacing or removing a link
  that *is* the final name (``os.replace`` / ``os.unlink``) acts on the link itself, not on its
  target, and is allowed.

The output root itself may be a link (the user named it); only what lies below it is checked.
Checks are made with ``lstat`` just before the call; a local user racing occreid's own calls (a
link swapped in between the check and the write) is outside what these checks can stop.
"""

from __future__ import annotations

import errno
import os
import stat

from .datasets import STATE_DIR
from .errors import OccreidError


class UnsafePath(OccreidError, OSError):
    """A path occreid will not act on: not clean, outside the output, or through a symbolic link
    (exit 2, as the check before the first image refuses it)."""

    def __init__(self, message: str):
        super().__init__(errno.ELOOP, message)

    def __str__(self) -> str:
        return self.strerror or ""


def clean_relpath(rel, mirrored: bool = True) -> bool:
    """True when ``rel`` is a clean relative path: a str, relative, with no empty, ``.`` or ``..``
    component and no NUL; ``mirrored`` (a path of the input tree mirrored under the output): not
    under occreid's own ``_occreid/`` folder either."""
    if not isinstance(rel, str) or not rel or "\0" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return False
    return not (mirrored and parts[0] == STATE_DIR)


def link_on_path(root: str, rel: str, known: set[str] | None = None) -> str | None:
    """The first existing component of ``root/rel`` below ``root`` that is a symbolic link (its
    full path), or None. Stops at the first component that does not exist (nothing below it can be
    a link). ``known``: folders already found to be real folders (filled in as it goes)."""
    path = root
    for part in rel.split("/"):
        path = os.path.join(path, part)
        if known is not None and path in known:
            continue
        try:
            st = os.lstat(path)
        except OSError:  # missing, under a file, a path too long: nothing there to follow
            return None
        if stat.S_ISLNK(st.st_mode):
            return path
        if known is not None and stat.S_ISDIR(st.st_mode):
            known.add(path)
    return None


def relative_to_root(root: str, path: str) -> str:
    """``path`` (made by joining onto ``root``) as a clean path relative to ``root``; UnsafePath
    when it does not lie inside the root or is not clean."""
    prefix = root.rstrip("/") + "/"
    rel = path[len(prefix):] if path.startswith(prefix) else None
    if rel is None or not clean_relpath(rel, mirrored=False):
        raise UnsafePath(f"{path} does not lie inside {root} as a clean relative path; occreid writes only "
                         "inside --out")
    return rel


def check_contained(root: str, path: str, known: set[str] | None = None, what: str = "write") -> str:
    """``path``'s clean relative path under ``root`` after checking that no folder on the way to it
    is a symbolic link (the final name itself may be one: a rename or unlink replaces the link, not
    its target). UnsafePath otherwise."""
    rel = relative_to_root(root, path)
    folder = rel.rpartition("/")[0]
    if folder:
        link = link_on_path(root, folder, known)
        if link is not None:
            raise UnsafePath(f"{link} is a symbolic link: occreid does not {what} through links inside --out")
    return rel
