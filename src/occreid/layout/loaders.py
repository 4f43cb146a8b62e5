"""The public loaders' own label rules (CAL / Simple-CCReID, OC4-ReID, torchreid), applied literally.

These functions read labels the way the public code does, regexes on the FULL path included, so
occreid can check that an output will be read back with the input's labels, and warn when the
output's location would corrupt them (an LTCC output under a folder whose name contains ``_c``).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from .records import Record

_LTCC_ID = re.compile(r"(\d+)_(\d+)_c(\d+)")
_LTCC_CLOTHES = re.compile(r"(\w+)_c")
_MARKET_ID = re.compile(r"([-\d]+)_c(\d)")
_PRCC_CAMS = {"A": 0, "B": 1, "C": 2}


def ltcc_labels(img_path: str) -> tuple[int, int, str]:
    """(pid, camid, clothes key) exactly as CAL's LTCC loader reads them: regexes on the full path."""
    pid, _, cam = map(int, _LTCC_ID.search(img_path).groups())
    return pid, cam - 1, _LTCC_CLOTHES.search(img_path).group(1)


def market_labels(img_path: str) -> tuple[int, int]:
    """(pid, camid) exactly as torchreid's Market-1501 loader reads them: a regex on the full path."""
    pid, cam = map(int, _MARKET_ID.search(img_path).groups())
    return pid, cam - 1


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

    The LTCC and Market loaders search their regexes in the whole path, so a folder name such as
    ``occ_cc_out`` (which contains ``_c``) turns every clothes key into ``occ``.
    """
    if layout not in ("ltcc", "market"):
        return []
    out_root = os.path.abspath(str(out_root))
    bad: list[tuple[str, tuple, tuple]] = []
    for r in records:
        full = os.path.join(out_root, r.relpath)
        try:
            got = ltcc_labels(full) if layout == "ltcc" else market_labels(full)
        except AttributeError:
            got = ("unreadable",)
        want = (r.pid, r.camera, r.clothes) if layout == "ltcc" else (r.pid, r.camera)
        if got != want:
            bad.append((r.relpath, want, got))
    if not bad:
        return []
    rel, want, got = bad[0]
    return [
        f"the public {layout.upper()} loaders (CAL, OC4-ReID, torchreid) run their label regexes on the "
        f"full path, and under {out_root} they would misread {len(bad)} of {len(records)} images "
        f"(e.g. {rel}: labels {want} read as {got}). Choose an output folder whose path has no "
        f"'_c' followed by a digit or letter, e.g. {Path(out_root).parent / Path(out_root).name.replace('_c', '-c')}"
    ]
