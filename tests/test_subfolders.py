"""Declarations found in the root or a named subfolder (``datasets/subfolders.py``): which subfolder
is taken, the labels read below it, and file names whose pid field is not a number (copied as other
files, never a traceback). Empty files stand in for images: reading a layout never decodes one."""

from __future__ import annotations

from pathlib import Path

import pytest

from occreid.datasets import read_dataset
from occreid.datasets.subfolders import leading_pid


@pytest.mark.parametrize("name, pid", [("001_01.tif", 1), ("-1_0.jpg", -1), ("0042_c1.jpg", 42), ("+5_1.jpg", None),
                                       ("--5_1.tif", None), ("\u00b2_1.tif", None), ("-_1.jpg", None),
                                       ("abc_1.jpg", None), ("7.jpg", None)])
def test_leading_pid_reads_what_int_reads_and_nothing_else(name, pid):
    assert leading_pid(name) == pid


def _touch(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


@pytest.mark.parametrize("holder", ["", "Occluded_REID/"])
def test_occluded_reid_in_its_root_or_its_folder_and_odd_pids_are_other_files(tmp_path, holder):
    _touch(tmp_path, *(f"{holder}{side}/001/{name}" for side in ("occluded_body_images", "whole_body_images")
                       for name in ("001_01.tif", "--5_01.tif", "\u00b2_01.tif")))
    ds = read_dataset(tmp_path)
    assert ds.layout == "occluded-reid"
    assert [(r.relpath, r.split, r.pid, r.camera) for r in ds.records] == [
        (f"{holder}occluded_body_images/001/001_01.tif", "occluded_body_images", 1, 0),
        (f"{holder}whole_body_images/001/001_01.tif", "whole_body_images", 1, 1)]
    assert len(ds.other_files) == 4


def test_prcc_under_rgb_or_as_rgb_itself(tmp_path):
    files = ("train/001/A_cropped_rgb001.jpg", "val/002/C_cropped_rgb003.jpg", "test/B/003/x.jpg", "test/A/003/y.jpg")
    _touch(tmp_path / "full" / "rgb", *files)
    _touch(tmp_path / "bare", *files)
    full, bare = read_dataset(tmp_path / "full"), read_dataset(tmp_path / "bare")
    assert full.layout == bare.layout == "prcc"
    assert [r.relpath for r in full.records] == ["rgb/" + r.relpath for r in bare.records] == sorted(
        "rgb/" + f for f in files)
    assert [(r.split, r.pid, r.camera, r.clothes) for r in full.records] == [
        (r.split, r.pid, r.camera, r.clothes) for r in bare.records]
