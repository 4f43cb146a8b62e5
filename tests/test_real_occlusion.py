"""The real-occlusion benchmarks' layouts: how Occluded-DukeMTMC is told from DukeMTMC-reID (its folder name,
or the layout an occreid output records), and that each states the protocol it is reported with."""

from __future__ import annotations

import shutil

import pytest
from conftest import shared_dataset
from datasets_fixtures import MARS_MINI, build_occluded_duke, build_occluded_reid, build_p_duke, build_partial_reid

from occreid.datasets import LayoutError, detect_layout, read_dataset
from occreid.evaluation import settings
from occreid.runner import GenerateConfig, generate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")  # skips with the reason
    return tmp_path_factory.mktemp("real_occ")


def test_occluded_duke_is_told_by_its_folder_name_or_by_choice(base, tmp_path):
    root = build_occluded_duke(base / "od")
    assert detect_layout(root).name == "occluded-duke"
    holder = tmp_path / "holder"  # the loaders' data root holding Occluded_Duke/
    shutil.copytree(root, holder / "Occluded_Duke")
    ds = read_dataset(holder)
    assert ds.layout == "occluded-duke" and all(r.relpath.startswith("Occluded_Duke/") for r in ds.records)
    renamed = tmp_path / "my_copy"
    shutil.copytree(root, renamed)
    assert detect_layout(renamed).name == "duke"  # the same files: nothing else tells them apart
    chosen = read_dataset(renamed, "occluded-duke")
    assert chosen.layout == "occluded-duke" and chosen.records == read_dataset(root).records
    with pytest.raises(LayoutError):
        read_dataset(build_partial_reid(tmp_path / "p"), "occluded-duke")


def test_an_occluded_duke_twin_under_another_name_is_still_occluded_duke(base, tmp_path):
    src = build_occluded_duke(base / "od2")
    out = tmp_path / "occ_twin"
    assert generate(GenerateConfig(input=src, output=out, parser="parsers:BoxParser", workers=1)).errors == 0
    assert read_dataset(out).layout == "occluded-duke"  # from out/_occreid/summary.json


@pytest.mark.parametrize("build, query, gallery", [
    (build_occluded_reid, "occluded_body_images/", "whole_body_images/"),
    (build_partial_reid, "partial_body_images/", "whole_body_images/"),
    (build_p_duke, "test/occluded_body_images/", "test/whole_body_images/"),
])
def test_occluded_queries_against_whole_body_galleries(base, build, query, gallery):
    ds = read_dataset(build(base / build.__name__))
    (s,) = settings(ds)
    assert s.rule == "general" and s.query and s.gallery
    assert all(r.relpath.startswith(query) and r.camera == 0 for r in s.query)
    assert all(r.relpath.startswith(gallery) and r.camera == 1 for r in s.gallery)
