"""Where pasted occluders come from: other images of the dataset (donors) and objects the user brings.

``DonorBank`` holds plain data, one ``Candidate`` per dataset image (relpath, split, pid, image path,
part map path), and loads a donor's pixels and part map only when a draw picks it, keeping the last
few in a bounded cache. Candidates are kept sorted by relpath, so the order they were given in never
changes a draw: the same (seed, relpath, inputs) gives the same donor on any worker, in any order.

``ObjectBank`` reads a folder of cut-outs (``--objects DIR``)::

    DIR/ground/bin.png          RGBA: the alpha channel is the object's mask
    DIR/ground/car.jpg          an image without alpha needs its mask beside it:
    DIR/ground/car.mask.png     same name + ".mask.png", white (>= 128) where the object is
    DIR/held/umbrella.png       held objects: bags, umbrellas (hands-to-head band)

A mask file, when present, wins over the image's own alpha. The first folder under DIR classes an
object: ``ground/`` objects rise from the bottom edge of the image (bins, cars, bollards), ``held/``
objects stay in the person's hands-to-head band (bags, umbrellas). Deeper folders are fine
(``ground/cars/red.png``); anything else is refused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..datasets.records import IMAGE_EXTENSIONS
from ..partmaps import read_labels

MASK_SUFFIX = ".mask.png"
OBJECT_KINDS = ("ground", "held")


def _read_rgb(path) -> np.ndarray:
    """A donor (a dataset image) as RGB, through the same guards as the run's inputs (regular file,
    64 MiB, 50 megapixels checked before decoding); ImageError (a ValueError) otherwise."""
    from ..images import MAX_FILE_BYTES, MAX_PIXELS
    from ..inputs import open_side_image

    with open_side_image(path, MAX_PIXELS, MAX_FILE_BYTES) as im:
        return np.asarray(im.convert("RGB"))


def _saved_part_map(cand: Candidate) -> np.ndarray | None:
    return read_part_map_png(cand.parts) if cand.parts else None


def _candidate_rgb(cand: Candidate) -> np.ndarray:
    return _read_rgb(cand.image)


def read_part_map_png(path) -> np.ndarray | None:
    """A saved part map's labels (``partmaps.read_labels``); None when missing, damaged or not a map."""
    return read_labels(path)


class _Cache:
    """A bounded least-recently-used cache of loaded donors."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


# -- donors: other images of the dataset ---------------------------------------------------
@dataclass(frozen=True, order=True)
class Candidate:
    """One dataset image a donor can be drawn from (plain data, cheap to send to workers).

    ``split`` is the group donors are drawn within (the split folder by default; pass the role,
    train / query / gallery, to draw within roles). ``pid`` None means the identity is unknown:
    then only the image itself is excluded. ``parts`` is the path of its saved part map PNG.
    """

    relpath: str
    split: str
    pid: int | None
    image: str
    parts: str | None = None


@dataclass(frozen=True)
class Donor:
    """A loaded donor: its RGB pixels and its part map (same height and width)."""

    relpath: str
    pixels: np.ndarray
    part_map: np.ndarray


class DonorBank:
    """The dataset images pedestrian and scene occluders are cut from.

    Args:
        candidates: the images (``Candidate`` or tuples in its field order); their order is irrelevant.
        part_loader: ``f(candidate) -> part map or None``; by default the PNG at ``candidate.parts``.
        image_loader: ``f(candidate) -> H x W x 3 uint8``; by default the file at ``candidate.image``.
        cache_size: how many loaded donors one bank keeps.
    """

    def __init__(self, candidates: Iterable,
                 part_loader: Callable[[Candidate], np.ndarray | None] | None = None,
                 image_loader: Callable[[Candidate], np.ndarray] | None = None, cache_size: int = 256):
        items = [c if isinstance(c, Candidate) else Candidate(*c) for c in candidates]
        self.candidates: tuple[Candidate, ...] = tuple(sorted(items, key=lambda c: c.relpath))
        rels = [c.relpath for c in self.candidates]
        if len(set(rels)) != len(rels):
            raise ValueError("candidates must have distinct relpaths")
        self._part_loader = part_loader or _saved_part_map  # module functions, not lambdas: a bank pickles
        self._image_loader = image_loader or _candidate_rgb
        self._splits = np.array([c.split for c in self.candidates], dtype=object)
        self._pids = np.array([-(1 << 62) if c.pid is None else int(c.pid) for c in self.candidates], np.int64)
        self._index = {c.relpath: i for i, c in enumerate(self.candidates)}
        self._eligible: dict[tuple, np.ndarray] = {}
        self._cache = _Cache(max(1, cache_size))

    def __getstate__(self) -> dict:
        """Pickled (e.g. into a DataLoader worker started with spawn) without the loaded donors."""
        state = self.__dict__.copy()
        state["_cache"] = _Cache(self._cache.size)
        return state

    @classmethod
    def from_records(cls, records: Iterable, dataset_root, parts_dir, **options) -> DonorBank:
        """A bank of dataset records (anything with ``relpath``, ``split``, ``pid``): images under
        ``dataset_root``, part maps at ``parts_dir/RELPATH.png`` (a run's ``_occreid/parts``)."""
        root, parts = Path(dataset_root), Path(parts_dir)
        cands = [Candidate(r.relpath, r.split, r.pid, str(root / r.relpath), str(parts / f"{r.relpath}.png"))
                 for r in records]
        return cls(cands, **options)

    def __len__(self) -> int:
        return len(self.candidates)

    def eligible(self, relpath: str, split: str, pid: int | None, same_split: bool = True) -> np.ndarray:
        """Indices (into ``candidates``, ascending) of the donors allowed for this target: another
        identity (another image when the identity is unknown), and with ``same_split`` (the
        default) only from the target's own split, so no test identity leaks into training images
        and no training identity into test images."""
        key = (split if same_split else None, pid)
        found = self._eligible.get(key)
        if found is None:
            ok = np.ones(len(self.candidates), bool)
            if same_split:
                ok &= self._splits == split
            if pid is not None:
                ok &= self._pids != int(pid)
            found = np.flatnonzero(ok)
            if len(self._eligible) > 4096:
                self._eligible.clear()
            self._eligible[key] = found
        own = self._index.get(relpath)
        if own is not None:  # never the image itself (only possible when the identity is unknown)
            found = found[found != own]
        return found

    def load(self, index: int) -> Donor | None:
        """The donor at ``index``, or None (the draw moves on) when it has no saved part map with a
        person, its image or map cannot be read, or the two differ in size."""
        cand = self.candidates[index]

        def make():
            try:
                parts = self._part_loader(cand)
                if parts is None or not parts.any():
                    return None
                pixels = self._image_loader(cand)
            except (OSError, ValueError, SyntaxError):
                return None
            if pixels.shape[:2] != parts.shape:
                return None
            return Donor(cand.relpath, pixels, parts)

        return self._cache.get(cand.relpath, make)


# -- objects the user brings -----------------------------------------------------------------
@dataclass(frozen=True)
class SceneObject:
    """One object of the bank: its file (relative to the bank's folder), kind, pixels and mask."""

    name: str
    kind: str  # ground or held
    pixels: np.ndarray  # h x w x 3 uint8, cropped to the mask's box
    mask: np.ndarray  # h x w bool


def object_files(folder) -> tuple[tuple[str, str], ...]:
    """(name relative to ``folder``, kind) of every object image in a bank folder, sorted by name.

    Raises ValueError, naming the file, for an image outside ``ground/`` and ``held/``, or an image
    with neither an alpha channel nor a ``.mask.png`` beside it; and when the folder holds none.
    """
    return _object_files(str(Path(folder).resolve()))


@lru_cache(maxsize=8)
def _object_files(folder: str) -> tuple[tuple[str, str], ...]:
    from ..images import ImageError
    from ..inputs import open_side_image

    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"objects_dir {folder} is not a folder")
    found = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if not path.is_file() or name.lower().endswith(MASK_SUFFIX) or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        kind = name.split("/", 1)[0] if "/" in name else ""
        if kind not in OBJECT_KINDS:
            raise ValueError(f"objects_dir: {name} must lie under ground/ (rises from the bottom edge) or held/ "
                             "(hands-to-head band)")
        if not _mask_path(path).is_file():
            try:
                with open_side_image(path) as im:  # the header only: its size is checked, nothing decoded
                    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            except ImageError as exc:
                raise ValueError(f"objects_dir: {name} cannot be used: {exc}") from None
            if not has_alpha:
                raise ValueError(f"objects_dir: {name} has no alpha channel and no {path.stem}{MASK_SUFFIX} beside it")
        found.append((name, kind))
    if not found:
        raise ValueError(f"objects_dir {folder} holds no objects: put RGBA cut-outs (or image + NAME{MASK_SUFFIX}) "
                         "under ground/ and held/")
    return tuple(found)


def objects_digest(folder) -> str:
    """SHA-1 over the bank's object names, kinds and bytes (masks included): what a run's fingerprint
    needs so that resuming with other objects under the same folder name is refused."""
    import hashlib

    from ..inputs import SIDE_FILE_BYTES, sha1_file

    root = Path(folder).resolve()
    digest = hashlib.sha1()
    for name, kind in _object_files.__wrapped__(str(root)):  # a fresh listing: the folder may have changed
        path = root / name
        digest.update(f"{kind}\0{name}\0".encode())
        for part in (path, _mask_path(path)):
            if part.is_file():  # a FIFO or device is never read; a file over the limit hashes as b""
                digest.update(bytes.fromhex(sha1_file(part, SIDE_FILE_BYTES)))
    return digest.hexdigest()


def _mask_path(path: Path) -> Path:
    return path.with_name(path.stem + MASK_SUFFIX)


class ObjectBank:
    """The objects of a bank folder (see the module's docstring), loaded when first drawn."""

    def __init__(self, folder, cache_size: int = 64):
        self.folder = Path(folder).resolve()
        self.files = object_files(self.folder)
        self._cache = _Cache(max(1, cache_size))

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> SceneObject:
        """The object at ``index``; ValueError naming the file when its mask is empty or unreadable,
        or it is over the size guards (``inputs.open_side_image``)."""
        from ..images import ImageError
        from ..inputs import open_side_image

        name, kind = self.files[index]

        def make():
            path = self.folder / name
            mask_file = _mask_path(path)
            try:
                with open_side_image(path) as im:
                    if mask_file.is_file():
                        pixels = np.asarray(im.convert("RGB"))
                        with open_side_image(mask_file) as m:
                            mask = np.asarray(m.convert("L")) >= 128
                    else:
                        rgba = np.asarray(im.convert("RGBA"))
                        pixels, mask = rgba[..., :3], rgba[..., 3] >= 128
            except (OSError, ImageError) as exc:
                raise ValueError(f"objects_dir: cannot read {name}: {exc}") from None
            if mask.shape != pixels.shape[:2]:
                raise ValueError(f"objects_dir: {name} and its mask differ in size")
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            if rows.size == 0:
                raise ValueError(f"objects_dir: {name} has an empty mask")
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            return SceneObject(name, kind, np.ascontiguousarray(pixels[box]), np.ascontiguousarray(mask[box]))

        return self._cache.get(name, make)

    def check(self) -> None:
        """Load every object once (before a run's first image): ValueError naming the first that
        cannot be used (unreadable, too large, a mask of another size or empty)."""
        for index in range(len(self.files)):
            self.load(index)
