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

#: The largest side file (part map, object, texture) read; a part map of a 50-megapixel image is
#: far smaller, an object or texture is a cut-out pasted into a person crop.
SIDE_FILE_BYTES = 64 * 1024 * 1024
#: The largest object or texture image decoded: it is pasted into crops of a few hundred pixels a
#: side, and 16 megapixels (4096 x 4096) is 48 MB as RGB, a 20000 x 20000 one would be 1.2 GB.
SIDE_IMAGE_PIXELS = 4096 * 4096
#: The largest checkpoint read or hashed (SCHP's is 267 MB).
CHECKPOINT_BYTES = 4 * 1024**3


def read_input(path: Path, max_bytes: int, option: str = "--max-file-size") -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file and its stat, read through one descriptor (never blocks on a
    FIFO); ImageError with the reason when it is not a regular file or is over ``max_bytes``
    (``option``, when given, is the setting the reason names)."""
    limit = f" ({option})" if option else ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ImageError(f"cannot read: {os_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("not a regular file")
        if st.st_size > max_bytes:
            raise ImageError(f"file too large: {st.st_size:,} bytes, over the limit of {max_bytes:,}{limit}")
        chunks, total, want = [], 0, min(st.st_size, max_bytes) + 1  # the whole file in one read, as a rule
        while True:
            block = os.read(fd, want)
            if not block:
                break
            total += len(block)
            if total > max_bytes:
                raise ImageError(f"file too large: over the limit of {max_bytes:,} bytes{limit}")
            chunks.append(block)
            want = 1 << 20  # it grew while read: go on to its end, or to the limit
        return b"".join(chunks), st
    except OSError as exc:
        raise ImageError(f"cannot read: {os_reason(exc)}") from None
    finally:
        os.close(fd)


def read_side_file(path, max_bytes: int = SIDE_FILE_BYTES) -> bytes:
    """The bytes of a file occreid reads besides the dataset's images (part maps, objects, textures,
    checkpoints), through ``read_input``'s guards: a regular file, at most ``max_bytes``, never a
    read that blocks (FIFO) or never ends (a link to /dev/zero). ImageError with the reason."""
    return read_input(Path(path), max_bytes, option="")[0]


def open_side_image(path, max_pixels: int = SIDE_IMAGE_PIXELS, max_bytes: int = SIDE_FILE_BYTES):
    """A side image (object, texture, mask) read by ``read_side_file`` and opened by Pillow, its
    pixel count checked against ``max_pixels`` before any pixel is decoded (call ``load`` or
    ``convert`` next); ImageError with the reason when it is not such a file or not an image."""
    import io

    from PIL import Image, UnidentifiedImageError

    data = read_side_file(path, max_bytes)
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image file (unrecognised content)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not a readable image ({exc})") from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageError(f"image too large: {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,}")
    return im


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

    found.extend(state_dir_entries(root))
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


#: Why the files under an input's own ``_occreid/`` folder are not processed.
RESERVED_REASON = (f"inside the input's top-level folder named {STATE_DIR}, which occreid reserves for its own state "
                   "(an occreid output's run state and part maps); rename the folder to include these files")


def in_state_dir(relpath: str) -> bool:
    """True for a path inside the input's top-level ``_occreid/`` (or that folder itself)."""
    return relpath == STATE_DIR or relpath.startswith(STATE_DIR + "/")


def state_dir_entries(root: Path) -> list[tuple[str, str]]:
    """(relpath, reason) of every file under ``root/_occreid``: no dataset reads that folder (it holds
    occreid's own state when the input is an occreid output), and each file in it gets a row saying
    so rather than vanishing. A symbolic link named ``_occreid`` is one row, not followed."""
    top = Path(root) / STATE_DIR
    if top.is_symlink() or (top.exists() and not top.is_dir()):
        return [(STATE_DIR, RESERVED_REASON)]
    found = []
    for dirpath, dirnames, filenames in os.walk(top):  # links to folders are listed, never followed
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames) + sorted(d for d in dirnames if (Path(dirpath) / d).is_symlink()):
            found.append(((rel_dir / name).as_posix(), RESERVED_REASON))
    return found


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


def sha1_file(path: Path, max_bytes: int | None = None) -> str:
    """SHA-1 of a regular file's bytes; "" (a digest nothing matches) when it is a FIFO, device or
    other special file, or larger than ``max_bytes``: such an entry is never opened for reading, so
    it can neither block nor run forever. OSError when it cannot be opened."""
    return file_digest(path, "sha1", max_bytes)


def file_digest(path, algorithm: str = "sha1", max_bytes: int | None = None) -> str:
    """``sha1_file`` with another hashlib algorithm (the checkpoint's SHA-256)."""
    h = hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (max_bytes is not None and st.st_size > max_bytes):
            return ""
        with os.fdopen(os.dup(fd), "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    finally:
        os.close(fd)
    return h.hexdigest()
