"""Where every random draw comes from: one generator per image, keyed on (seed, relative path).

The generator (``worker.py``) and the training-time transform (``augment.py``) both call
``relpath_rng``, so the transform reproduces the occluder a run wrote for every name the OS allows,
names that are not valid UTF-8 included (their key is ``rng_key``'s escape of the bytes, the same
text on every run and platform).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..parts import BODY_PARTS


def rng_key(relpath: str) -> str:
    """The text an image's draws are keyed on: its relpath, or for a name that is not valid UTF-8 (it
    reaches Python with surrogate escapes, ``os.fsdecode``) a reversible escape of its bytes, so such
    names resume, shard and reproduce like any other."""
    try:
        relpath.encode("utf-8")
        return relpath
    except UnicodeEncodeError:
        return os.fsencode(relpath).decode("utf-8", "backslashreplace")


def image_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one key: a function of the run's seed and the key only.

    Callers pass ``rng_key(relpath)`` (or use ``relpath_rng``); a key that still holds surrogate
    escapes is hashed as its original bytes, so distinct keys give distinct generators. The seed is
    taken as an unsigned 64-bit value, so distinct seeds in [0, 2**64) give distinct generators.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    seed = int(seed)
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    high, low = seed >> 32, seed & 0xFFFFFFFF
    # seeds below 2**32 keep the entropy of earlier releases (their bytes are unchanged)
    entropy = [low, *words] if high == 0 else [low, *words, high]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def relpath_rng(seed: int, relpath: str, prefix: str = "") -> np.random.Generator:
    """The generator of the image at ``relpath`` (``prefix`` names another stream of draws for the
    same image, e.g. ``select:``): what the generator and ``OccludeTransform`` both use."""
    return image_rng(seed, prefix + rng_key(relpath))


def tracklet_order(seed: int, tracklet: str) -> tuple[int, ...]:
    """The body parts in a preference order drawn once per tracklet (``--per tracklet``).

    Every frame of the tracklet covers the first present part(s) in this order, so one occluder
    follows the same body part through the sequence instead of jumping between parts frame to frame.
    """
    rng = image_rng(seed, "tracklet:" + tracklet)
    return tuple(int(x) for x in rng.permutation(np.array(BODY_PARTS)))


__all__ = ["image_rng", "relpath_rng", "rng_key", "tracklet_order"]
