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


def loader_hazards(layout: str, out_root: str | Path, records: list[Record] | tuple[Record, ...]) -> list[str]:
    """Warnings for records whose labels a public loader would misread at ``out_root``.

    The declaration says how its public loader reads a path (:meth:`Layout.loader_labels`): the
    LTCC, Market-1501, DukeMTMC-reID, VC-Clothes and Celeb-reID loaders search their regexes in the
    whole path, so a folder name such as ``occ_cc_out`` (which contains ``_c``) turns every LTCC
    clothes key into ``occ``; LaST's loaders change their glob when ``query`` is in the path.
    """
    from . import DATASETS

    if layout not in DATASETS:
        return []
    decl = DATASETS[layout]()
    out_root = os.path.abspath(str(out_root))
    warnings = [w for w in [decl.path_hazard(out_root)] if w]
    bad: list[tuple[str, tuple, tuple]] = []
    reads_paths = type(decl).loader_labels is not Layout.loader_labels
    for r in records if reads_paths else ():
        got = decl.loader_labels(os.path.join(out_root, r.relpath))
        want = decl.expected_loader_labels(r)
        if got != want:
            bad.append((r.relpath, want, ("unreadable",) if got is None else got))
    if bad:
        rel, want, got = bad[0]
        warnings.append(
            f"the public {decl.title or layout} loaders run their label regexes on the full path, and under "
            f"{out_root} they would misread {len(bad)} of {len(records)} images "
            f"(e.g. {rel}: labels {want} read as {got}). Choose an output folder whose path has no "
            f"'_c' followed by a digit or letter (nor digit-dash runs), e.g. "
            f"{Path(out_root).parent / Path(out_root).name.replace('_c', '-c')}")
    return warnings
