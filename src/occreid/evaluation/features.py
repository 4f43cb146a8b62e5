"""The features file (``.npz``): what ``embed`` writes and ``evaluate`` reads, and which tree it was computed on.

It holds ``paths`` (relative to the dataset root), ``features`` (N x D float32), and the tree it
was computed on (``root``, ``tree_fingerprint``). Reading checks every member's ``.npy`` header
before any data (:func:`check_npz`): a member that is not a ``.npy`` array, an object (pickled)
array, or a header declaring more bytes than the member holds (a 4 TB array in a 1 KB file) is
refused in one sentence instead of failing, or allocating, inside NumPy. Writing is atomic
(:func:`occreid.evaluation.output.atomic_write`): a full disk never leaves a truncated file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..datasets import Dataset
from .output import atomic_write

#: Largest features file ``evaluate`` reads, uncompressed (a 1M x 2048 float32 table is 8 GiB).
MAX_FEATURE_BYTES = 16 << 30


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def check_npz(path: str | Path) -> None:
    """FeatureError naming the first member of the ``.npz`` at ``path`` that could not be read safely."""
    from .protocols import FeatureError

    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise FeatureError(f"{path} holds the member {info.filename!r}, which is not a .npy array; "
                                       "a features .npz holds only 'paths' and 'features' (and occreid's tree record).")
                with zf.open(info) as fh:
                    try:
                        version = np.lib.format.read_magic(fh)
                        if version == (1, 0):
                            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                        else:
                            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    except ValueError as e:
                        raise FeatureError(f"{path}: the member {info.filename!r} is not a readable .npy array "
                                           f"({e}).") from None
                if dtype.hasobject:
                    raise FeatureError(f"{path}: the member {info.filename!r} holds Python objects (a pickle), "
                                       "which occreid does not load.")
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if declared > info.file_size:
                    raise FeatureError(f"{path}: the member {info.filename!r} declares a {shape} {dtype} array "
                                       f"({_size(declared)}) but holds {_size(info.file_size)}; the file is damaged.")
                total += declared
            if total > MAX_FEATURE_BYTES:
                raise FeatureError(f"{path} holds {_size(total)} of arrays, over the {_size(MAX_FEATURE_BYTES)} "
                                   "occreid reads as features.")
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise FeatureError(f"{path} is not a features .npz ({e}).") from None


def tree_fingerprint(root: str | Path, relpaths: Sequence[str]) -> str:
    """SHA-256 over the images' relative paths and the SHA-1 of their bytes: two trees with the same
    names but other pixels (a dataset and its occluded twin) get different fingerprints."""
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(relpaths):
        with open(Path(root) / rel, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def save_features(path: str | Path, table, root: str | Path) -> None:
    """Write a features ``.npz``: ``paths``, ``features`` (float32), and the tree it was computed on:
    ``root`` (absolute) and ``tree_fingerprint`` (see :func:`tree_fingerprint`)."""
    arrays = dict(paths=np.array(table.paths, dtype=str), features=np.asarray(table.features, np.float32),
                  root=np.array(str(Path(root).resolve())),
                  tree_fingerprint=np.array(tree_fingerprint(root, table.paths)))
    buf = io.BytesIO()  # built in memory: a write error then never meets a half-closed ZipFile
    np.savez(buf, **arrays)
    atomic_write(Path(path), lambda fh: fh.write(buf.getbuffer()), "features")


def load_features(path: str | Path, dataset: Dataset, allow_other_tree: bool = False):
    """Read and check a features ``.npz`` for ``dataset``; FeatureError with one sentence otherwise.

    Refused: an empty or unreadable file, a ``.npy`` or pickle, missing arrays, features that are not
    a real N x D array with N, D > 0, non-finite values, all-zero rows or every row the same (a model
    that returns nothing useful gives real-looking metrics otherwise), and, unless
    ``allow_other_tree``, features recorded as computed on another tree (a dataset's features
    given for its occluded twin). Absolute paths under the dataset's root are made relative.
    """
    from .protocols import FeatureError, FeatureTable

    path = Path(path)
    if path.stat().st_size == 0:
        raise FeatureError(f"{path} is empty (0 bytes), not a features .npz.")
    if zipfile.is_zipfile(path):
        check_npz(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{path} is not a features .npz ({exc}).") from None
    if not hasattr(z, "files"):
        raise FeatureError(f"{path} holds a single array (a .npy file), not an .npz with 'paths' and 'features'.")
    try:
        with z:
            missing = [k for k in ("paths", "features") if k not in z.files]
            if missing:
                raise FeatureError(f"{path} lacks the array(s) {', '.join(missing)} "
                                   f"(it has: {', '.join(z.files) or 'nothing'}).")
            paths, feats = z["paths"], z["features"]
            root = str(z["root"]) if "root" in z.files else None
            recorded = str(z["tree_fingerprint"]) if "tree_fingerprint" in z.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{path} is damaged ({exc}).") from None
    real = np.issubdtype(feats.dtype, np.floating) or np.issubdtype(feats.dtype, np.integer)
    if np.iscomplexobj(feats) or not real:
        raise FeatureError(f"{path}: features must be real numbers, not {feats.dtype}.")
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        raise FeatureError(f"{path}: features must be an N x D array with N, D > 0, got shape {feats.shape}.")
    if paths.ndim != 1 or paths.shape[0] != feats.shape[0]:
        raise FeatureError(f"{path}: {paths.shape} paths for {feats.shape[0]} feature rows.")
    if not np.isfinite(feats).all():
        raise FeatureError(f"{path}: {int((~np.isfinite(feats).all(axis=1)).sum())} feature rows hold NaN or infinity.")
    zero = ~feats.any(axis=1)
    if zero.any():
        raise FeatureError(f"{path}: {int(zero.sum())} of {feats.shape[0]} feature rows are all zero.")
    if feats.shape[0] > 1 and (feats == feats[:1]).all():
        raise FeatureError(f"{path}: every feature row is the same vector; the model gives nothing to rank by.")
    base = Path(dataset.root).resolve()
    rels = []
    for p in (str(x) for x in paths):
        if Path(p).is_absolute() or (len(p) > 2 and p[1] == ":"):
            q = Path(p).resolve()
            if not q.is_relative_to(base):
                raise FeatureError(f"{path}: the absolute path {p} is not under the dataset root {base}.")
            p = q.relative_to(base).as_posix()
        rels.append(p)
    table = FeatureTable(rels, feats.astype(np.float32, copy=False))
    if recorded is not None and not allow_other_tree:
        table.check(dataset)
        if tree_fingerprint(dataset.root, table.paths) != recorded:
            raise FeatureError(f"{path} was computed on another tree ({root or 'unknown root'}), not on the images of "
                               f"{dataset.root} (same names, other bytes: the original and its occluded twin?); "
                               "embed this dataset, or pass --allow-other-tree to use them anyway.")
    return table
