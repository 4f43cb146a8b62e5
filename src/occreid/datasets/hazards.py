"""Output paths the public loaders would misread.

Several public loaders search their label regexes in the whole path of an image, not in its file
name (LTCC, Market-1501, DukeMTMC-reID, VC-Clothes, Celeb-reID), and LaST's change their glob when
``query`` occurs in the path. Each declaration says how its loader reads a path
(:meth:`Layout.loader_labels`, :meth:`Layout.path_hazard`); :func:`loader_hazards` asks it about an
output root before a run writes there.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Layout
from .records import Record

#: Rewrites tried, in order, on every folder name of the output path to find one the loader reads right.
_REWRITES = (("_c", "-c"), ("-", "_"), ("_", "-"))


def _misread(decl: Layout, out_root: str, records) -> list[tuple[str, tuple, tuple]]:
    bad = []
    for r in records:
        got = decl.loader_labels(os.path.join(out_root, r.relpath))
        want = decl.expected_loader_labels(r)
        if got != want:
            bad.append((r.relpath, want, ("unreadable",) if got is None else got))
    return bad


def _suggestion(decl: Layout, out_root: str, records) -> str | None:
    """A path like ``out_root`` (every folder name rewritten the same way) the loader reads right; None if none."""
    parts = Path(out_root).parts
    for old, new in _REWRITES:
        fixed = str(Path(parts[0], *(p.replace(old, new) for p in parts[1:])))
        if fixed != out_root and not _misread(decl, fixed, records):
            return fixed
    return None


def loader_hazards(layout: str, out_root: str | Path, records: list[Record] | tuple[Record, ...]) -> list[str]:
    """Warnings for records whose labels a public loader would misread at ``out_root``.

    The declaration says how its public loader reads a path (:meth:`Layout.loader_labels`, and in
    words :attr:`Layout.path_rule`): the LTCC, Market-1501, DukeMTMC-reID, VC-Clothes and
    Celeb-reID loaders search their regexes in the whole path, so a folder name such as
    ``occ_cloth`` anywhere above the images (CAL's ``(\\w+)_c`` finds ``occ`` first) turns every
    LTCC clothes key into ``occ``; LaST's loaders change their glob when ``query`` is in the path.
    A suggested path is offered only when the loader reads every record right under it.
    """
    from . import DATASETS

    if layout not in DATASETS:
        return []
    decl = DATASETS[layout]()
    out_root = os.path.abspath(str(out_root))
    warnings = [w for w in [decl.path_hazard(out_root)] if w]
    reads_paths = type(decl).loader_labels is not Layout.loader_labels
    bad = _misread(decl, out_root, records) if reads_paths else []
    if bad:
        rel, want, got = bad[0]
        fixed = _suggestion(decl, out_root, records)
        advice = (f"e.g. {fixed}" if fixed else "rename the folders on the path that the rule catches")
        warnings.append(
            f"the public {decl.title or layout} loaders run their label regexes on the full path, and under "
            f"{out_root} they would misread {len(bad)} of {len(records)} images "
            f"(e.g. {rel}: labels {want} read as {got}): {decl.path_rule or 'a folder name matches their regex'}. "
            f"Choose another output folder, {advice}.")
    return warnings
