"""Layouts read real datasets by the public loaders' rules; detection and its errors."""

from __future__ import annotations

import pytest
from conftest import shared_dataset
from public_loaders import ltcc_labels, public_records

from occreid.datasets import LayoutError, detect_layout, loader_hazards, read_dataset


@pytest.mark.parametrize("name,layout,count", [
    ("prcc-mini", "prcc", 480), ("ltcc-mini", "ltcc", 416), ("market1501-mini", "market", 96),
    ("mars-mini", "mars", 5572),
])
def test_detects_and_reads_every_image(name, layout, count):
    root = shared_dataset(name)
    ds = read_dataset(root)
    assert ds.layout == layout and len(ds.records) == count
    assert all((root / r.relpath).is_file() for r in ds.records)


@pytest.mark.parametrize("name,layout", [("prcc-mini", "prcc"), ("ltcc-mini", "ltcc"), ("market1501-mini", "market")])
def test_records_equal_the_public_loaders_reading(name, layout):
    root = shared_dataset(name)
    assert sorted(read_dataset(root).records) == public_records(layout, root)


def test_prcc_labels():
    ds = read_dataset(shared_dataset("prcc-mini"))
    by_path = {r.relpath: r for r in ds.records}
    train = next(r for r in ds.records if r.split == "train" and r.relpath.split("/")[-1].startswith("C"))
    assert train.camera == 2 and train.clothes == f"{train.pid:03d}_C"
    test_b = next(r for r in ds.records if r.relpath.startswith("rgb/test/B/"))
    assert test_b.camera == 1 and test_b.clothes.endswith("_AB") and test_b.pid == int(test_b.relpath.split("/")[3])
    assert {r.split for r in by_path.values()} == {"train", "val", "test"}


def test_prcc_rooted_at_rgb_and_other_files(tmp_path):
    root = shared_dataset("prcc-mini")
    ds = read_dataset(root / "rgb")
    assert len(ds.records) == 480 and ds.records[0].relpath.startswith(("train/", "test/", "val/"))


def test_ltcc_labels_and_clothes_key():
    ds = read_dataset(shared_dataset("ltcc-mini"))
    r = ds.records[0]
    name = r.relpath.split("/")[-1]
    pid, k, cam = name.split("_")[:3]
    assert (r.pid, r.camera, r.clothes) == (int(pid), int(cam[1:]) - 1, f"{pid}_{k}")
    assert {x.split for x in ds.records} == {"train", "query", "test"}


def test_folder_layout_and_undetectable_folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.jpg").write_bytes(b"...")
    (tmp_path / "y.png").write_bytes(b"...")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(LayoutError) as info:
        detect_layout(tmp_path)
    message = str(info.value)
    for expected in ("prcc:", "ltcc:", "market:", "--layout folder"):
        assert expected in message
    ds = read_dataset(tmp_path, "folder")
    assert [(r.relpath, r.split) for r in ds.records] == [("a/b/x.jpg", "a"), ("y.png", ".")]
    assert ds.other_files == ("notes.txt",)
    with pytest.raises(LayoutError, match="not a ltcc dataset"):
        read_dataset(tmp_path, "ltcc")


def test_ltcc_output_path_hazard_is_detected():
    ds = read_dataset(shared_dataset("ltcc-mini"))
    # The public regex r'(\w+)_c' on the full path reads the clothes key from the folder name.
    assert ltcc_labels("/data/occ_cc_out/train/094_1_c3_000123.png")[2] == "occ"
    warnings = loader_hazards("ltcc", "/data/occ_cc_out", ds.records)
    assert len(warnings) == 1 and f"{len(ds.records)} of {len(ds.records)}" in warnings[0]
    assert loader_hazards("ltcc", "/data/Occ_LTCC", ds.records) == []
    assert loader_hazards("prcc", "/data/occ_cc_out", ds.records) == []


def test_mars_tracklet_keys_group_every_frame_of_a_tracklet():
    ds = read_dataset(shared_dataset("mars-mini"))
    keys = {}
    for r in ds.records:
        name = r.relpath.split("/")[-1]
        keys.setdefault(r.tracklet, set()).add((r.split, name[:11], r.pid, r.camera))
    assert len(keys) == 96 and all(len(v) == 1 for v in keys.values())  # one tracklet, one key


def test_declarations_are_the_only_source_of_roles():
    from occreid.datasets import declaration

    for name, layout in [("prcc-mini", "prcc"), ("ltcc-mini", "ltcc"), ("market1501-mini", "market")]:
        ds = read_dataset(shared_dataset(name))
        decl = declaration(ds)
        assert decl.name == layout
        assert {decl.role(r) for r in ds.records} == {"train", "query", "gallery"}
