"""Where the ``texture`` fill's images come from: a folder the user brings (bins, cars, umbrellas).

Listing and decoding live here, apart from the maths (``functional.texture_layer`` stretches one
over the occluder's box) and from the draw (``transforms`` picks one with the image's fill seed).
Both are cached per process: a worker lists a folder once and decodes each texture once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..datasets.records import IMAGE_SUFFIXES

#: The image extensions a texture folder is searched for: ``datasets.records.IMAGE_SUFFIXES`` less TIFF,
#: which texture folders never held (kept out, so the textures a run draws, and its fingerprint, stay).
TEXTURE_EXTENSIONS = tuple(e for e in IMAGE_SUFFIXES if e not in (".tif", ".tiff"))


#: Folder -> its texture files, kept once found (an empty listing is not kept: the folder may fill).
_LISTINGS: dict[str, tuple[Path, ...]] = {}


def texture_files(folder: str | Path) -> tuple[Path, ...]:
    """Every image under ``folder`` (any depth, by extension), sorted; () when it is not a folder."""
    key = str(folder)
    found = _LISTINGS.get(key)
    if found is None:
        root = Path(folder)
        found = tuple(sorted(p for p in root.rglob("*") if p.suffix.lower() in TEXTURE_EXTENSIONS and p.is_file())
                      ) if root.is_dir() else ()
        if found:
            _LISTINGS[key] = found
    return found


def check_texture_dir(folder: str | Path | None) -> None:
    """ValueError in one sentence unless ``folder`` is given and holds at least one texture image."""
    if not folder:
        raise ValueError("fill 'texture' needs texture_dir, a folder of object images (bins, cars, umbrellas...)")
    if not texture_files(folder):
        raise ValueError(f"texture_dir {folder} holds no images ({', '.join(TEXTURE_EXTENSIONS)})")


def check_textures(folder: str | Path) -> None:
    """Decode every texture once (before a run's first image): ValueError naming the first that
    cannot be used (not a regular file, over the size guards, not an image)."""
    check_texture_dir(folder)
    root = Path(folder)
    for path in texture_files(folder):
        try:
            load_texture(path)
        except ValueError as exc:
            raise ValueError(f"texture_dir: {path.relative_to(root).as_posix()} cannot be used: {exc}") from None


def textures_digest(folder: str | Path) -> str:
    """SHA-1 over the folder's texture names and bytes: in a texture run's fingerprint, so that
    resuming with other textures under the same folder name is refused instead of mixing them."""
    import hashlib

    from ..inputs import SIDE_FILE_BYTES, sha1_file

    root, digest = Path(folder), hashlib.sha1()
    for path in texture_files(folder):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode("utf-8", "surrogateescape"))
        digest.update(bytes.fromhex(sha1_file(path, SIDE_FILE_BYTES)))
    return digest.hexdigest()


@lru_cache(maxsize=64)
def load_texture(path: Path) -> np.ndarray:
    """A texture image as H x W x 3 uint8 RGB (decoded once per process), through the size and
    file-type guards of ``inputs.open_side_image``; ImageError (a ValueError) when it cannot be."""
    from ..inputs import open_side_image

    with open_side_image(path) as im:
        return np.asarray(im.convert("RGB"))


__all__ = ["TEXTURE_EXTENSIONS", "check_texture_dir", "check_textures", "load_texture", "texture_files",
           "textures_digest"]
