"""The public loaders' own listing of PRCC, LTCC and Market-1501, an independent check of a re-read.

Test helper, not part of occreid: ``public_records`` lists a dataset with the globs and regexes
of the public loaders (CAL's PRCC and LTCC readers, torchreid's Market-1501), labels taken from
the full path as there, so a test can compare it with ``read_dataset`` on the input and the output.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from occreid.datasets import LTCC, PRCC, Market1501
from occreid.datasets.records import Record

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
