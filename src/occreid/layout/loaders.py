"""The public loaders' own reading of paths, to check outputs and warn about path hazards.

:func:`loader_hazards` asks each dataset's declaration how its public loader reads a path
(regexes on the FULL path included) and warns when an output's location would corrupt the labels
(an LTCC output under a folder whose name contains ``_c``). :func:`ltcc_labels` and
:func:`market_labels` are those readings for LTCC and Market-1501; :func:`public_records` lists
PRCC, LTCC and Market-1501 with the public loaders' globs, an independent check of a re-read.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..datasets import DATASETS, LTCC, PRCC, Layout, Market1501
from ..datasets.records import Record

_PRCC_CAMS = PRCC.CAMERAS


def ltcc_labels(img_path: str) -> tuple[int, int, str]:
    """(pid, camid, clothes key) exactly as CAL's LTCC loader reads them: regexes on the full path."""
    labels = LTCC().loader_labels(img_path)
    if labels is None:
        raise AttributeError(f"CAL's LTCC regexes find no labels in {img_path}")
    return labels


def market_labels(img_path: str) -> tuple[int, int]:
    """(pid, camid) exactly as torchreid's Market-1501 loader reads them: a regex on the full path."""
    labels = Market1501().loader_labels(img_path)
    if labels is None:
        raise AttributeError(f"torchreid's Market-1501 regex finds no labels in {img_path}")
    return labels


def public_records(layout: str, root: str | Path) -> list[Record]:
    """Records as the public loader of ``layout`` would list and label the dataset at ``root``.

    Only the layouts with a public loader are supported (prcc, ltcc, market). ``relpath`` is
    relative to ``root``; labels come from the full path, as in the public code.
    """
    root = str(root)
    out: list[Record] = []

    def rel(p: str) -> str:
        return Path(os.path.relpath(p, root)).as_posix()

    if layout == "prcc":
        base = os.path.join(root, "rgb") if os.path.isdir(os.path.join(root, "rgb")) else root
        for split in ("train", "val"):
            for pdir in sorted(glob.glob(os.path.join(base, split, "*"))):
                pid = int(os.path.basename(pdir))
                for p in sorted(glob.glob(os.path.join(pdir, "*.jpg"))):
                    cam = os.path.basename(p)[0]
                    out.append(Record(rel(p), split, pid, _PRCC_CAMS[cam], f"{pid:03d}_{'C' if cam == 'C' else 'AB'}"))
        for cam in ("A", "B", "C"):
            for pdir in sorted(glob.glob(os.path.join(base, "test", cam, "*"))):
                pid = int(os.path.basename(pdir))
                for p in sorted(glob.glob(os.path.join(pdir, "*.jpg"))):
                    out.append(Record(rel(p), "test", pid, _PRCC_CAMS[cam], f"{pid:03d}_{'C' if cam == 'C' else 'AB'}"))
    elif layout == "ltcc":
        for split in ("train", "query", "test"):
            for p in sorted(glob.glob(os.path.join(root, split, "*.png"))):
                pid, cam, clothes = ltcc_labels(p)
                out.append(Record(rel(p), split, pid, cam, clothes))
    elif layout == "market":
        for split in ("bounding_box_train", "bounding_box_test", "query"):
            for p in sorted(glob.glob(os.path.join(root, split, "*.jpg"))):
                pid, cam = market_labels(p)
                out.append(Record(rel(p), split, pid, cam))
    else:
        raise ValueError(f"no public loader is modelled for layout {layout!r}")
    return sorted(out)


def loader_hazards(layout: str, out_root: str | Path, records: list[Record] | tuple[Record, ...]) -> list[str]:
    """Warnings for records whose labels a public loader would misread at ``out_root``.

    The declaration says how its public loader reads a path (:meth:`Layout.loader_labels`): the
    LTCC, Market-1501, DukeMTMC-reID, VC-Clothes and Celeb-reID loaders search their regexes in the
    whole path, so a folder name such as ``occ_cc_out`` (which contains ``_c``) turns every LTCC
    clothes key into ``occ``; LaST's loaders change their glob when ``query`` is in the path.
    """
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
